// Every process the sandbox starts is recorded in its state dir (pid and start time), and so is
// every cgroup (kubelet/cgroup.ts), so a sandbox that died without cleaning up can be cleaned up
// by the next one (or by its own exit hook): a recorded pid is killed
// only while /proc shows the same start time (pids are reused; a process that re-execs itself
// keeps its start time but not its command line).
import fs from 'node:fs';
import path from 'node:path';
import { removeRecordedCgroups } from './kubelet/cgroup.ts';

function dir(stateDir: string): string {
  return path.join(stateDir, 'pids');
}

/** The process's start time in clock ticks since boot (/proc/PID/stat, field 22). */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function recordPid(stateDir: string, pid: number): void {
  fs.mkdirSync(dir(stateDir), { recursive: true });
  fs.writeFileSync(path.join(dir(stateDir), String(pid)), startTime(pid) ?? '');
}

export function forgetPid(stateDir: string, pid: number): void {
  fs.rmSync(path.join(dir(stateDir), String(pid)), { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is dead for our purpose.
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Kills (SIGKILL, with its process group) every recorded process still alive, then removes the
 * recorded cgroups (killing what runs in them); returns the killed pids.
 */
export function killRecorded(stateDir: string): number[] {
  const killed = killRecordedPids(stateDir);
  removeRecordedCgroups(stateDir);
  return killed;
}

function killRecordedPids(stateDir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir(stateDir));
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const name of names) {
    const pid = Number(name);
    const recorded = fs.readFileSync(path.join(dir(stateDir), name), 'utf8');
    if (Number.isInteger(pid) && pid > 1 && recorded !== '' && startTime(pid) === recorded) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone, or not a group leader
        }
      }
      killed.push(pid);
    }
    fs.rmSync(path.join(dir(stateDir), name), { force: true });
  }
  return killed;
}
