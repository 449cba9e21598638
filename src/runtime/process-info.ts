import { readFileSync } from 'node:fs';
import { isErrno } from '../common/index.ts';

export interface ProcessInfo {
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  startTime: string;
  /** One-letter state (R, S, D, Z, T, …). */
  state: string;
}

/** Reads /proc/<pid>/stat; undefined when there is no such process. */
export function readProcessInfo(pid: number, procDir = '/proc'): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`${procDir}/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ESRCH')) return undefined;
    throw err;
  }
  // comm may contain spaces and parentheses: fields start after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '?', startTime: rest[19] ?? '' };
}

/** True when `pid` is still the process that was started at `startTime` and has not exited. */
export function isSameLiveProcess(pid: number, startTime: string): boolean {
  if (pid <= 0) return false;
  const info = readProcessInfo(pid);
  return info !== undefined && info.startTime === startTime && info.state !== 'Z' && info.state !== 'X';
}
