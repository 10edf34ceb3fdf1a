import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import { startSandbox, CONTROL_PLANES, type Sandbox } from './sandbox/sandbox.ts';
import { buildControlPlane } from './sandbox/control-plane/control-plane.ts';
const exec = promisify(execFile);
const build = await buildControlPlane(process.env);
process.env.PATH = `${build.bin}:${process.env.PATH}`;
async function k(sb: Sandbox, ...args: string[]) {
  try { const r = await exec('kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args]); return `ok ${r.stdout}${r.stderr}`; }
  catch (e: any) { return `ERR ${e.code} ${e.stdout}${e.stderr}`; }
}
for (const kind of CONTROL_PLANES) {
  fs.rmSync(`/work/scratch/${kind}`, { recursive: true, force: true });
  const sb = await startSandbox({ stateDir: `/work/scratch/${kind}`, prometheus: 'off', controlPlane: kind });
  console.log('=====', kind);
  await k(sb, 'create', 'namespace', 'f');
  const rv = JSON.parse((await k(sb, 'get', '--raw', '/api/v1/namespaces/f/configmaps')).slice(3)).metadata.resourceVersion;
  const w = k(sb, 'get', '--raw', `/api/v1/namespaces/f/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=5&allowWatchBookmarks=true`);
  await new Promise((r) => setTimeout(r, 500));
  console.log(await k(sb, 'create', 'configmap', 'a', '-n', 'f', '--from-literal=x=1'));
  console.log(await k(sb, 'patch', 'configmap', 'a', '-n', 'f', '-p', '{"data":{"x":"2"}}'));
  console.log(await k(sb, 'delete', 'configmap', 'a', '-n', 'f'));
  console.log('WATCH', (await w).split('\n').map((l) => { try { const e = JSON.parse(l); return `${e.type} ${e.object.kind} ${e.object.metadata?.name} ${JSON.stringify(e.object.metadata?.annotations ?? {})}`; } catch { return l; } }).join('\n'));
  console.log(await k(sb, 'create', 'configmap', 'b', '-n', 'f', '--from-literal=x=1'));
  const init = await k(sb, 'get', '--raw', `/api/v1/namespaces/f/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=3`);
  console.log('INIT', init.split('\n').map((l) => { try { const e = JSON.parse(l); return `${e.type} ${e.object.kind} ${e.object.metadata?.name} ${JSON.stringify(e.object.metadata?.annotations ?? {})}`; } catch { return l; } }).join('\n'));
  if (kind === 'emulated') sb.emulator?.faults.compact();
  console.log('OLD', await k(sb, 'get', '--raw', `/api/v1/namespaces/f/configmaps?watch=1&resourceVersion=1&timeoutSeconds=2`));
  // SSA conflict
  const cm = (v: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa', namespace: 'f' }, data: { x: v } });
  fs.writeFileSync('/tmp/ssa1.json', cm('1')); fs.writeFileSync('/tmp/ssa2.json', cm('2'));
  console.log(await k(sb, 'apply', '--server-side', '--field-manager=alice', '-f', '/tmp/ssa1.json'));
  console.log(await k(sb, 'apply', '--server-side', '--field-manager=bob', '-f', '/tmp/ssa2.json'));
  console.log(await k(sb, 'apply', '--server-side', '--field-manager=bob', '--force-conflicts', '-f', '/tmp/ssa2.json'));
  console.log(await k(sb, 'get', 'cm', 'ssa', '-n', 'f', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager} {.data.x}'));
  console.log('NODES', await k(sb, 'get', 'nodes', '-o', 'wide'));
  await sb.stop();
}
process.exit(0);
