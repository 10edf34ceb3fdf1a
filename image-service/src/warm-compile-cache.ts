/**
 * Fills Node's compile cache (the directory in NODE_COMPILE_CACHE) with every module the service
 * loads, so that a service started with the same NODE_COMPILE_CACHE takes the stripped, compiled
 * code from the cache and never loads Node's TypeScript stripper, which otherwise stays resident
 * (docs/benchmarks.md, "Image service: memory at rest"). Run once where the service will run: at image build time
 * (image-service/Dockerfile) and by the benchmark before it starts the service.
 *
 *   NODE_COMPILE_CACHE=DIR node image-service/src/warm-compile-cache.ts
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (process.env.NODE_COMPILE_CACHE === undefined || process.env.NODE_COMPILE_CACHE === '') {
  process.stderr.write('warm-compile-cache: set NODE_COMPILE_CACHE to the directory to fill\n');
  process.exit(2);
}
// What main.ts imports once its environment is set (its static imports are compiled below), and
// the sources it loads only when configured.
await Promise.all([import('./server.ts'), import('./sources/open.ts'), import('./sources/s3.ts'), import('./sources/http.ts'), import('./transform.ts'), import('./admin.ts')]);
// main.ts itself, with its static imports: without IMAGE_SOURCE it validates its environment,
// refuses with exit status 2 and never listens; its modules are compiled (and cached) by then.
const main = spawnSync(process.execPath, [fileURLToPath(new URL('./main.ts', import.meta.url))], {
  env: { ...process.env, IMAGE_SOURCE: '' },
  stdio: ['ignore', 'ignore', 'pipe'],
  encoding: 'utf8',
});
if (main.status !== 2 || !main.stderr.includes('IMAGE_SOURCE')) {
  process.stderr.write(`warm-compile-cache: main.ts did not stop at its configuration as expected (status ${main.status}): ${main.stderr}\n`);
  process.exit(1);
}
// The transform child (pool.ts) likewise: started without its parent's channel, it exits 2 once loaded.
const child = spawnSync(process.execPath, [fileURLToPath(new URL('./transform-child.ts', import.meta.url))], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (child.status !== 2 || !child.stderr.includes('no IPC channel')) {
  process.stderr.write(`warm-compile-cache: transform-child.ts did not stop as expected (status ${child.status}): ${child.stderr}\n`);
  process.exit(1);
}
