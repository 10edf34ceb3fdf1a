// A container's log file, as a container runtime keeps it: the kubelet reads the process's
// stdout and stderr and writes each line with the time it arrived (`<RFC 3339> <line>`), so that
// `kubectl logs --timestamps` and `--since` can be answered. Readers strip the time unless asked.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Appends the lines of a container's output streams to its log file, each with its arrival time. */
export class ContainerLogWriter {
  readonly #out: fs.WriteStream;
  #open = 0;

  constructor(file: string) {
    this.#out = fs.createWriteStream(file, { flags: 'a' });
    this.#out.on('error', () => undefined); // a log that cannot be written must not take the kubelet down
  }

  /** Follows one output stream; a last line without a newline is written when the stream ends. */
  attach(stream: Readable): void {
    this.#open += 1;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length === 0) return;
      const at = new Date().toISOString();
      this.#out.write(lines.map((l) => `${at} ${l}\n`).join(''));
    });
    stream.once('close', () => {
      if (partial !== '') this.#out.write(`${new Date().toISOString()} ${partial}\n`);
      if (--this.#open === 0) this.#out.end();
    });
  }
}

export interface LogView {
  timestamps: boolean;
  /** Only lines that arrived at or after this time (ms since the epoch). */
  since?: number | undefined;
}

/** Whole lines of a log file as a reader asked for them. */
export function viewLines(text: string, view: LogView): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    const at = line.slice(0, space);
    if (view.since !== undefined && Date.parse(at) < view.since) continue;
    out.push(view.timestamps ? line : line.slice(space + 1));
  }
  return out;
}

/** Cuts a growing file's new bytes into whole lines, keeping a partial last line for the next read. */
export class LineCutter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  push(chunk: Buffer): string {
    const text = this.#partial + this.#decoder.write(chunk);
    const end = text.lastIndexOf('\n') + 1;
    this.#partial = text.slice(end);
    return text.slice(0, end);
  }
}
