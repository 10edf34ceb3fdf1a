// The ImageServices in examples/, read for tests and golden fixtures.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KIND } from './image-service.ts';

export const EXAMPLES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples');

/** file name -> the ImageService documents of that file (other kinds, like Secrets, skipped). */
export function exampleImageServices(): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const file of readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const docs = parseAllDocuments(readFileSync(join(EXAMPLES_DIR, file), 'utf8')).map((d) => d.toJS() as unknown);
    const services = docs.filter((d) => (d as { kind?: unknown } | null)?.kind === KIND);
    if (services.length !== 1) throw new Error(`examples/${file} should hold exactly one ImageService, has ${services.length}`);
    out.set(file, services[0]);
  }
  return out;
}
