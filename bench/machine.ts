// What the numbers were measured on: CPU, memory, kernel, library and tool versions, and how
// busy the (shared) machine was when the run began.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, release, totalmem } from 'node:os';
import sharp from 'sharp';
import type { Machine } from './results.ts';

function version(command: string, args: string[], pattern: RegExp): string | undefined {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return pattern.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

function packageVersion(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The sharp ipx loads: package.json's overrides give it the project's own, so look it up as ipx would. */
function sharpOfIpx(repoRoot: string): string | undefined {
  const dirs = createRequire(`${repoRoot}/node_modules/ipx/package.json`).resolve.paths('sharp') ?? [];
  return dirs.map((dir) => packageVersion(`${dir}/sharp/package.json`)).find((v) => v !== undefined);
}

export function describeMachine(repoRoot: string): Machine {
  const tools: Record<string, string> = {};
  const found: [string, string | undefined][] = [
    ['ipx', packageVersion(`${repoRoot}/node_modules/ipx/package.json`)],
    ["ipx's sharp", sharpOfIpx(repoRoot)],
    ['autocannon', packageVersion(`${repoRoot}/node_modules/autocannon/package.json`)],
    ['vipsthumbnail', version('vipsthumbnail', ['--vips-version'], /libvips ([\d.]+)/)],
    ['PHP', version('php', ['-v'], /^PHP ([\d.]+)/)],
    ['ImageMagick', version('php', ['-r', 'echo Imagick::getVersion()["versionString"];'], /ImageMagick ([\d.-]+)/)],
  ];
  for (const [name, v] of found) if (v !== undefined) tools[name] = v;
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    sharp: sharp.versions.sharp ?? 'unknown',
    libvips: sharp.versions.vips,
    tools,
    loadAverage: loadavg(),
  };
}
