// The README's commands as the tests run them: found by their first words, continuation lines
// joined, placeholders substituted, run with the sandbox's kubeconfig from the repository root (so
// that a change to the README or to what the tests expect of it fails a test).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../sandbox/sandbox.ts';

export type Result = { code: number; stdout: string; stderr: string };

/** Runs a tool against a cluster (KUBECONFIG) from the repository root; never throws on a non-zero exit. */
export function runTool(kubeconfig: string, command: string, args: string[], stdin = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, KUBECONFIG: kubeconfig } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => void (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    child.on('error', (err) => reject(new Error(`${command} could not run (${err.message}): is it on PATH?`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/**
 * The README's command line starting with `prefix` (backslash continuations joined), split into
 * words, each placeholder of `substitute` replaced where it occurs; throws when there is none.
 */
export function readmeCommand(prefix: string, substitute: Record<string, string> = {}): { tool: string; args: string[] } {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8').replace(/\\\n/g, ' ');
  const line = readme.split('\n').find((l) => l.trim().startsWith(prefix));
  if (line === undefined) throw new Error(`README.md has no "${prefix}" command`);
  let text = line.trim();
  for (const [placeholder, value] of Object.entries(substitute)) {
    if (!text.includes(placeholder)) throw new Error(`README.md's "${prefix}" command no longer names ${placeholder}`);
    text = text.replaceAll(placeholder, value);
  }
  const [tool = '', ...args] = text.split(/\s+/);
  return { tool, args };
}
