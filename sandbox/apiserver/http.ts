import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest, internalError, unsupportedMediaType } from './errors.ts';
import type { FieldValidation, Objects, WriteContext } from './objects.ts';
import { decodeProtobuf } from './protobuf.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import type { IncludeObject } from './table.ts';
import type { JsonObject, KubeObject } from './types.ts';

// Request and response plumbing shared by the handlers: bodies in, JSON and Status bodies out.

const MAX_BODY_BYTES = 3 * 1024 * 1024;
export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

export function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const apiError = err instanceof ApiError ? err : internalError(err instanceof Error ? err.message : String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, apiError.code, apiError.toStatus(), apiError.headers);
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
}

const BODY_TYPES = ['application/json', 'application/yaml'];

export function parseBody(body: Buffer, type: string): unknown {
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobuf(body);
  // CBOR, like protobuf for most kinds, needs the Go types; kubectl apply and JSON clients work.
  if (type.includes('cbor')) throw unsupportedMediaType(BODY_TYPES);
  const text = body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if (type.includes('yaml')) return parseYaml(text);
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`error decoding request body: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The manager a write is recorded under: the fieldManager parameter, else the user agent's name. */
function managerOf(q: URLSearchParams, req: IncomingMessage): string {
  return q.get('fieldManager') ?? (req.headers['user-agent'] ?? 'unknown').split('/')[0] ?? 'unknown';
}

export function writeContext(q: URLSearchParams, req: IncomingMessage): WriteContext {
  const dryRun = q.getAll('dryRun');
  for (const d of dryRun) if (d !== 'All') throw badRequest(`Invalid dryRun value: ${d}; the only supported value is All`);
  const fv = q.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(fv)) throw badRequest(`fieldValidation must be one of Strict, Warn, Ignore, not "${fv}"`);
  return {
    dryRun: dryRun.length > 0,
    fieldManager: managerOf(q, req),
    applying: false,
    fieldValidation: fv as FieldValidation,
    warnings: [],
  };
}

export function warningHeaders(ctx: WriteContext): Record<string, string> {
  if (ctx.warnings.length === 0) return {};
  return { Warning: ctx.warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') };
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw badRequest(`${name}: invalid value "${v}": must be an integer`);
  return n;
}

export function listObject(t: ResourceType, items: KubeObject[], meta: JsonObject, objects: Objects): JsonObject {
  return { kind: t.listKind, apiVersion: apiVersionOf(t), metadata: meta, items: items.map((o) => objects.present(t, o)) };
}

export function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  return v === 'None' || v === 'Object' ? v : 'Metadata';
}

export function deletedStatus(t: ResourceType, obj: KubeObject): JsonObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name: obj.metadata.name, group: t.group, kind: t.resource, uid: obj.metadata.uid },
  };
}
