/**
 * Reading and writing cgroup control files, with errors that name the file and the value.
 *
 * Writes open the file O_WRONLY|O_TRUNC and never O_CREAT: a missing control file is an
 * error (the kernel lacks the feature), not a new file; O_TRUNC makes the same code work
 * against plain files in a temp dir, where unit tests imitate a hierarchy.
 *
 * The calls are synchronous inside async signatures: cgroupfs answers from memory in
 * microseconds, while a thread-pool round trip per call cost most of a container's start.
 */
import { closeSync, constants, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, describeErrno, isErrno } from '../common/index.ts';
import type { ErrorCode } from '../common/index.ts';

/** Errno texts the shared table (common/errors.ts) lacks and that cgroup files produce. */
const MORE_ERRNO_TEXT: Record<string, string> = {
  ERANGE: 'numerical result out of range',
  EOPNOTSUPP: 'operation not supported',
  ENOTSUP: 'operation not supported',
  ENODEV: 'no such device',
  ENOTEMPTY: 'directory not empty',
  E2BIG: 'argument list too long',
  EAGAIN: 'resource temporarily unavailable',
};

export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return MORE_ERRNO_TEXT[code] ?? describeErrno(code);
  return err instanceof Error ? err.message : String(err);
}

function codeForWrite(err: unknown): ErrorCode {
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'EINVAL':
    case 'ERANGE':
      return 'INVALID_ARGUMENT';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'PERMISSION_DENIED';
    case 'EBUSY':
      return 'CONFLICT';
    // A missing control file means this kernel (or this mount) lacks the feature.
    case 'ENOENT':
    case 'ENOSPC':
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
    case 'ENODEV':
      return 'FAILED_PRECONDITION';
    default:
      return 'INTERNAL';
  }
}

/** Write one value with one write(2), as the kernel wants. */
export async function writeControl(file: string, value: string, hint?: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_TRUNC);
    writeSync(fd, value);
  } catch (err) {
    throw new BerthError(codeForWrite(err), `cannot write ${JSON.stringify(value)} to ${file}: ${errnoText(err)}`, {
      cause: err,
      ...(hint === undefined ? {} : { hint }),
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The text of a control file. */
export async function readControl(file: string): Promise<string> {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code: ErrorCode = isErrno(err, 'ENOENT') ? 'NOT_FOUND' : isErrno(err, 'EACCES', 'EPERM') ? 'PERMISSION_DENIED' : 'INTERNAL';
    throw new BerthError(code, `cannot read ${file}: ${errnoText(err)}`, { cause: err });
  }
}

/** The text of a control file, or undefined when the file does not exist. */
export async function readControlIfExists(file: string): Promise<string | undefined> {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENODEV')) return undefined;
    throw new BerthError('INTERNAL', `cannot read ${file}: ${errnoText(err)}`, { cause: err });
  }
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    statSync(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return false;
    throw err;
  }
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat) as numbers. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** "8:0 rbytes=1 wbytes=2" lines (io.stat) as { key: '8:0', fields }. */
export function parseNestedKeyed(text: string): Array<{ key: string; fields: Map<string, number> }> {
  const out: Array<{ key: string; fields: Map<string, number> }> = [];
  for (const line of text.split('\n')) {
    const [key, ...pairs] = line.trim().split(/\s+/);
    if (!key) continue;
    const fields = new Map<string, number>();
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq > 0 && /^\d+$/.test(pair.slice(eq + 1))) fields.set(pair.slice(0, eq), Number(pair.slice(eq + 1)));
    }
    out.push({ key, fields });
  }
  return out;
}

/** A single number ("max" and the v1 "unlimited" value give null). */
export function parseLimit(text: string): number | null {
  const value = text.trim();
  if (value === 'max' || value === '') return null;
  const n = BigInt(value);
  // cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages: 0x7ffffffffffff000 on 4 KiB pages.
  if (n >= 0x7ffffffffffff000n || n < 0n) return null;
  return Number(n);
}

export function parseNumber(text: string | undefined): number {
  const value = text?.trim();
  return value && /^\d+$/.test(value) ? Number(value) : 0;
}

/** Process ids listed in a cgroup.procs file; [] when the cgroup is gone. */
export async function readProcs(dir: string): Promise<number[]> {
  const text = await readControlIfExists(join(dir, 'cgroup.procs'));
  if (text === undefined) return [];
  // cgroup v2 lists a process outside the reader's pid namespace as 0: never one to signal
  return text
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0);
}

/** The cgroup directory and all its descendants, parents before children; [] when missing. */
export async function listSubtree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = (current: string): void => {
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw new BerthError('INTERNAL', `cannot list ${current}: ${errnoText(err)}`, { cause: err });
    }
    out.push(current);
    for (const entry of entries) {
      if (entry.isDirectory()) walk(join(current, entry.name));
    }
  };
  walk(dir);
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** mkdir of one cgroup directory; an existing one is fine. Returns whether it was created. */
export function makeCgroupDir(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw new BerthError(isErrno(err, 'EACCES', 'EPERM', 'EROFS') ? 'PERMISSION_DENIED' : 'INTERNAL', `cannot create cgroup ${dir}: ${errnoText(err)}`, { cause: err });
  }
}
