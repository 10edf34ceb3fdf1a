// The naive Node + sharp resize server that the benchmark compares against: what one writes in
// an afternoon. Same URL scheme as the image service, sharp's defaults, and no admission
// control: every request starts decoding at once, however many arrive.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { ServerEnvSchema } from './server-env.ts';

const env = ServerEnvSchema.parse(process.env);

const Query = z.object({
  w: z.coerce.number().int().min(1).max(8192).optional(),
  q: z.coerce.number().int().min(1).max(100).default(80),
  fm: z.enum(['jpeg', 'webp', 'avif', 'png']).default('jpeg'),
});

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const key = decodeURIComponent(url.pathname.replace(/^\/image\/files\//, ''));
  const query = Query.safeParse(Object.fromEntries(url.searchParams));
  if (!url.pathname.startsWith('/image/files/') || normalize(key).startsWith('..') || !query.success) {
    res.writeHead(400).end();
    return;
  }
  try {
    const input = await readFile(join(env.BENCH_IMAGE_ROOT, normalize(key)));
    const output = await sharp(input).resize({ width: query.data.w, withoutEnlargement: true }).toFormat(query.data.fm, { quality: query.data.q }).toBuffer();
    res.writeHead(200, { 'content-type': `image/${query.data.fm}` }).end(output);
  } catch (error) {
    res.writeHead((error as NodeJS.ErrnoException).code === 'ENOENT' ? 404 : 500).end();
  }
});

server.listen(env.PORT, env.HOST);
process.on('SIGTERM', () => process.exit(0));
