/**
 * Signals one process. kill(2) reads a pid of 0 as "my process group" and -1 as "every process I
 * may signal": a pid that came out as 0 (an exited container's State.Pid, a cgroup v2
 * cgroup.procs line for a process outside the reader's pid namespace, an empty field) must never
 * reach it. Every signal berth sends goes through here.
 */
import { BerthError } from './errors.ts';

export function signalProcess(pid: number, signal: NodeJS.Signals | number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new BerthError('INTERNAL', `refusing to send signal ${signal} to pid ${pid}: that is not one process`);
  }
  process.kill(pid, signal);
}
