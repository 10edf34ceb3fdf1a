import { z } from 'zod';
import { HttpError } from './errors.ts';
import { FITS, FORMATS, MAX_DIMENSION } from './params.ts';

/**
 * Named parameter sets from IMAGE_SERVICE_PRESETS (`serving.presets`), e.g.
 * `{"thumb": {"w": 200, "h": 200, "fit": "cover"}}`, selected with `?preset=thumb`. The bounds
 * are the request parameters' own, so a preset can never ask for what a URL could not.
 */
export const presetSchema = z.strictObject({
  w: z.int().min(1).max(MAX_DIMENSION).optional(),
  h: z.int().min(1).max(MAX_DIMENSION).optional(),
  fit: z.enum(FITS).optional(),
  q: z.int().min(1).max(100).optional(),
  fm: z.enum(FORMATS).optional(),
});
export type Preset = z.infer<typeof presetSchema>;

const presetsSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'preset names use letters, digits, - and _'), presetSchema);
export type Presets = z.infer<typeof presetsSchema>;

export class PresetsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PresetsError';
  }
}

/** Parses IMAGE_SERVICE_PRESETS; absent or blank means no presets. Throws one readable line (the caller names the variable). */
export function parsePresets(raw: string | undefined): Presets {
  if (raw === undefined || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new PresetsError(`not valid JSON: ${(err as Error).message}`);
  }
  const parsed = presetsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    // A bad record key reports its reason one level down.
    const message = issue?.code === 'invalid_key' ? issue.issues[0]?.message : issue?.message;
    throw new PresetsError(`${where}: ${message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * Replaces `preset=NAME` in a query by the preset's parameters. Parameters given in the URL win
 * over the preset's (`?preset=thumb&q=60`), as with imgproxy's presets. Unknown preset: 400.
 */
export function expandPreset(query: URLSearchParams, presets: Presets): URLSearchParams {
  const names = query.getAll('preset');
  if (names.length === 0) return query;
  if (names.length > 1) throw new HttpError(400, 'invalid_parameter', 'preset is given more than once');
  const name = names[0] ?? '';
  const preset = Object.hasOwn(presets, name) ? presets[name] : undefined;
  if (preset === undefined) {
    const known = Object.keys(presets);
    throw new HttpError(400, 'invalid_parameter', `preset: unknown preset ${JSON.stringify(name.slice(0, 64))}; known: ${known.length > 0 ? known.join(', ') : 'none configured'}`);
  }
  const expanded = new URLSearchParams(query);
  expanded.delete('preset');
  for (const [field, value] of Object.entries(preset)) {
    if (value !== undefined && !expanded.has(field)) expanded.set(field, String(value));
  }
  return expanded;
}
