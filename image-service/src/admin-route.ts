import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admin } from './admin.ts';
import type { Answers } from './answers.ts';
import { HttpError } from './errors.ts';
import type { Stampede } from './stampede.ts';

/** PUT /image/files/{key} and DELETE /image/files: only with an admin token, else no such route. A change invalidates the cached results of its keys. */
export async function serveAdmin(
  admin: Admin | undefined,
  stampede: Stampede,
  answers: Answers,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  rawKey: string,
  signal: AbortSignal,
): Promise<void> {
  if (admin === undefined) throw new HttpError(404, 'not_found', `no route for ${req.method} ${path.slice(0, 200)} (the management API is off: IMAGE_SERVICE_ADMIN_TOKEN_FILE is not set)`);
  let answer: { status: number; body: unknown };
  if (req.method === 'PUT' && path !== '/image/files') {
    const uploaded = await admin.put(req, rawKey, signal);
    stampede.invalidate([uploaded.body.key]);
    answer = uploaded;
  } else if (req.method === 'DELETE' && path === '/image/files') {
    const deleted = await admin.bulkDelete(req, signal);
    stampede.invalidate(deleted.body.succeeded_files);
    answer = deleted;
  } else {
    const collection = path === '/image/files';
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${collection ? '/image/files (DELETE it with {"files": [...]})' : 'an image (GET, HEAD, PUT)'}`, {
      allow: collection ? 'DELETE' : 'GET, HEAD, PUT',
    });
  }
  const body = JSON.stringify(answer.body);
  answers.send(res, answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) }, body);
}
