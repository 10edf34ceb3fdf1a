// Before any test file: the upstream control plane, kubectl and helm, built from source once (a
// cache hit costs a second), their directory first on PATH so that every suite runs the same
// kubectl and helm, matched to the kube-apiserver they talk to. A machine without Go fails here
// with one line naming it.
import path from 'node:path';
import { buildControlPlane } from '../sandbox/control-plane/control-plane.ts';

export default async function setup(): Promise<void> {
  const build = await buildControlPlane();
  process.env['PATH'] = `${path.join(build.dir, 'bin')}${path.delimiter}${process.env['PATH'] ?? ''}`;
  process.env['IMAGEOPS_CONTROL_PLANE_DIR'] = build.dir;
}
