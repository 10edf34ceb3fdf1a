// Benchmark of the sandbox API server: create, list and watch throughput and the server's
// memory with 10,000 objects. The server runs in a child process (this file with --serve) so
// that its memory and CPU are its own; the client here drives it over loopback HTTP.
//
//   npx node bench/apiserver.ts [--objects 10000] [--watchers 10] [--updates 5000]

import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { eventsV1Codec } from '../sandbox/apiserver/events.ts';
import { GarbageCollector } from '../sandbox/apiserver/gc.ts';
import { defaultWriteContext, Objects } from '../sandbox/apiserver/objects.ts';
import { builtinTypes, ResourceRegistry } from '../sandbox/apiserver/resources.ts';
import { startApiServer } from '../sandbox/apiserver/server.ts';
import { Store } from '../sandbox/apiserver/store.ts';
import { WatchHub } from '../sandbox/apiserver/watch.ts';

const { values } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    objects: { type: 'string', default: '10000' },
    watchers: { type: 'string', default: '10' },
    updates: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
  },
});

if (values.serve) {
  const server = await startApiServer({ crdPaths: [], istio: false, historyLimit: 20_000 });
  process.send?.({ url: server.url });
  process.on('disconnect', () => void server.stop().then(() => process.exit(0)));
} else {
  await main();
}

type Stats = { objects: number; watches: number; memory: NodeJS.MemoryUsage };

/** The storage core without HTTP: what a write and a list cost before serialisation and sockets. */
function inProcess(objects: number, updates: number, record: (what: string, value: string) => void): void {
  const registry = new ResourceRegistry();
  for (const t of builtinTypes(eventsV1Codec)) registry.add(t);
  const store = new Store({ historyLimit: 20_000 });
  const api = new Objects(store, registry);
  const hub = new WatchHub();
  store.onChange((c) => hub.dispatch(c));
  const gc = new GarbageCollector(store, api);
  const nsType = registry.get('', 'v1', 'namespaces');
  const cm = registry.get('', 'v1', 'configmaps');
  if (!nsType || !cm) throw new Error('built-in types missing');
  api.create(nsType, undefined, { metadata: { name: 'core' } }, defaultWriteContext());
  // Writes record their manager in managedFields, as every HTTP write does.
  const ctx = () => ({ ...defaultWriteContext(), fieldManager: 'bench' });
  let t = performance.now();
  for (let i = 0; i < objects; i++) {
    api.create(cm, 'core', { metadata: { name: `cm-${i}`, labels: { app: 'bench', shard: String(i % 10) } }, data: { index: String(i), payload: 'x'.repeat(200) } }, ctx());
  }
  record(`in-process create (no HTTP)`, `${Math.round(objects / ((performance.now() - t) / 1000))} objects/s`);
  t = performance.now();
  for (let i = 0; i < updates; i++) {
    const name = `cm-${i % objects}`;
    const current = api.current(cm, 'core', name);
    if (!current) throw new Error(`${name} missing`);
    current['data'] = { index: `u${i}` };
    api.patched(cm, 'core', name, current, ctx());
  }
  record(`in-process update (no HTTP)`, `${Math.round(updates / ((performance.now() - t) / 1000))} objects/s`);
  t = performance.now();
  const listed = api.list(cm, 'core', { labelSelector: 'shard=3' }).items.length;
  record(`in-process list with a label selector (${listed} of ${objects})`, `${(performance.now() - t).toFixed(1)} ms`);
  gc.stop();
}

async function main(): Promise<void> {
  const objects = Number(values.objects);
  const watchers = Number(values.watchers);
  const updates = Number(values.updates);
  const concurrency = Number(values.concurrency);
  const rows: [string, string][] = [];
  const record = (what: string, value: string) => {
    rows.push([what, value]);
    console.log(`${what}: ${value}`);
  };
  // Before the server process starts, so that its start-up does not compete for the CPU.
  inProcess(objects, updates, record);
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`server exited with ${String(code)}`)));
  });
  const stats = async (): Promise<Stats> => (await (await fetch(`${url}/_sandbox/stats`)).json()) as Stats;
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const ns = 'bench';
  const base = `${url}/api/v1/namespaces/${ns}/configmaps`;
  try {
    await post(`${url}/api/v1/namespaces`, { metadata: { name: ns } });
    const idle = await stats();
    record('server RSS, empty', mib(idle.memory.rss));

    // Create: `concurrency` requests in flight.
    let next = 0;
    let t = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < objects; i = next++) {
          await post(base, { metadata: { name: `cm-${i}`, labels: { app: 'bench', shard: String(i % 10) } }, data: { index: String(i), payload: 'x'.repeat(200) } });
        }
      }),
    );
    let s = (performance.now() - t) / 1000;
    record(`create ${objects} ConfigMaps (${concurrency} in flight)`, `${Math.round(objects / s)} objects/s`);
    const loaded = await stats();
    record(`server RSS / heap used with ${loaded.objects} objects`, `${mib(loaded.memory.rss)} / ${mib(loaded.memory.heapUsed)}`);

    // Full list.
    const lists = 10;
    let bytes = 0;
    t = performance.now();
    for (let i = 0; i < lists; i++) bytes += (await (await fetch(base)).arrayBuffer()).byteLength;
    s = (performance.now() - t) / 1000;
    record(`list all ${objects} (${mib(bytes / lists)} of JSON)`, `${((s / lists) * 1000).toFixed(0)} ms per list, ${Math.round((objects * lists) / s)} objects/s`);

    t = performance.now();
    for (let i = 0; i < lists; i++) await (await fetch(`${base}?labelSelector=shard%3D3`)).arrayBuffer();
    s = (performance.now() - t) / 1000;
    record(`list with a label selector (10% match)`, `${((s / lists) * 1000).toFixed(0)} ms per list`);

    t = performance.now();
    let pages = 0;
    let token: string | undefined;
    do {
      const page = (await (await fetch(`${base}?limit=500${token ? `&continue=${encodeURIComponent(token)}` : ''}`)).json()) as { metadata: { continue?: string } };
      token = page.metadata.continue;
      pages++;
    } while (token);
    record(`paginated list, limit=500 (${pages} pages)`, `${(performance.now() - t).toFixed(0)} ms in all`);

    // Watch from scratch: the synthetic ADDED stream of every object.
    t = performance.now();
    const initial = await watch(`${base}?watch=true`, objects);
    record(`watch without resourceVersion: ${initial} synthetic ADDED`, `${(performance.now() - t).toFixed(0)} ms`);

    // Watch fan-out: `watchers` watches, `updates` writes, every event to every watcher.
    const rv = ((await (await fetch(`${base}?limit=1`)).json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const streams = Array.from({ length: watchers }, () => watch(`${base}?watch=true&resourceVersion=${rv}`, updates));
    await new Promise((r) => setTimeout(r, 200));
    t = performance.now();
    next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < updates; i = next++) {
          await patch(`${base}/cm-${i % objects}`, { data: { index: `u${i}` } });
        }
      }),
    );
    const writeSeconds = (performance.now() - t) / 1000;
    const delivered = (await Promise.all(streams)).reduce((a, b) => a + b, 0);
    s = (performance.now() - t) / 1000;
    record(`${updates} updates (merge patch) with ${watchers} watches open`, `${Math.round(updates / writeSeconds)} writes/s`);
    record(`watch events delivered (${delivered} = ${watchers} x ${updates})`, `${Math.round(delivered / s)} events/s`);
    const after = await stats();
    record('server RSS / heap used after the watch run', `${mib(after.memory.rss)} / ${mib(after.memory.heapUsed)}`);

    // The machine may be shared: its load says how far to trust the numbers.
    record(
      'machine',
      `${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' / ')} (1/5/15 min)`,
    );
    console.log('\n| measurement | result |\n| --- | --- |');
    for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
  } finally {
    child.disconnect();
    await new Promise((r) => child.once('exit', r));
  }
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`POST ${url}: ${res.status}`);
}

async function patch(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`PATCH ${url}: ${res.status}`);
}

/** Counts watch events until `count` arrived (or 60 s passed), then closes the stream. */
async function watch(url: string, count: number): Promise<number> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 60_000);
  let seen = 0;
  try {
    const res = await fetch(url, { signal: abort.signal });
    const reader = res.body?.getReader();
    if (!reader) return 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const byte of value) if (byte === 10) seen++;
      if (seen >= count) break;
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return seen;
}
