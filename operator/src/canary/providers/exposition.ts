// A parser for the Prometheus text exposition format (version 0.0.4, what prom-client serves):
// enough to read counters and histograms from a pod's /metrics. Pure.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class ExpositionError extends Error {
  override name = 'ExpositionError';
  /** The line at fault, when one is. */
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super(message);
    this.line = line;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** A sample value: a float, NaN, +Inf or -Inf. */
export function parseValue(text: string): number {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  const value = text === '' ? Number.NaN : Number(text);
  if (Number.isNaN(value)) throw new ExpositionError(`"${text}" is not a sample value`);
  return value;
}

/**
 * Every sample of an exposition, in order. When `only` is given, lines of other metric names
 * are skipped before their labels are parsed (the process metrics are most of a page).
 * A malformed line is an ExpositionError naming the line.
 */
export function parseExposition(text: string, only?: (name: string) => boolean): Sample[] {
  const samples: Sample[] = [];
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameMatch = NAME.exec(line);
    if (!nameMatch) throw new ExpositionError(`line ${lineNo}: no metric name: ${line.slice(0, 120)}`, lineNo);
    const name = nameMatch[0];
    if (only && !only(name)) continue;
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(rest, lineNo);
      Object.assign(labels, parsed.labels);
      rest = rest.slice(parsed.length);
    }
    // value [timestamp]
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new ExpositionError(`line ${lineNo}: expected a value after ${name}: ${line.slice(0, 120)}`, lineNo);
    let value: number;
    try {
      value = parseValue(fields[0] as string);
    } catch (error) {
      throw new ExpositionError(`line ${lineNo}: ${(error as Error).message}`, lineNo);
    }
    samples.push({ name, labels, value });
  }
  return samples;
}

function parseLabels(text: string, lineNo: number): { labels: Record<string, string>; length: number } {
  const labels: Record<string, string> = {};
  let i = 1; // past "{"
  const fail = (why: string): never => {
    throw new ExpositionError(`line ${lineNo}: ${why}: ${text.slice(0, 120)}`, lineNo);
  };
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, length: i + 1 };
    const nameMatch = LABEL_NAME.exec(text.slice(i));
    if (!nameMatch) fail('bad label name');
    const labelName = (nameMatch as RegExpExecArray)[0];
    i += labelName.length;
    if (text[i] !== '=' || text[i + 1] !== '"') fail(`label ${labelName} needs ="value"`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else fail(`bad escape \\${next ?? ''} in label value`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++; // closing quote
    labels[labelName] = value;
    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail('expected , or } after a label');
  }
}
