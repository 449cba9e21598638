/**
 * Owners of temp and staging files. Every temp dir or file berth makes in its state root (a
 * layer being unpacked, a blob being ingested, an archive being staged) carries its owner in
 * its name: the process id and that process's start time (field 22 of /proc/<pid>/stat), as
 * the engine's leases do. The name is given when the file is made, so there is no instant
 * at which it exists without an owner; once the owner is gone (a killed command), anyone may
 * remove it, and a reused pid is never mistaken for the owner.
 *
 *   <prefix><pid>-<start>-<random>      e.g. overlay/.tmp-4242-81234567-9f3c…
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../common/index.ts';

/** The start time of a process (field 22 of /proc/<pid>/stat, clock ticks since boot), or undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

let self: string | undefined;

/** `<pid>-<start>` of this process. */
export function ownerTag(): string {
  if (self === undefined) {
    const start = processStartTime(process.pid);
    if (start === undefined) throw new BerthError('INTERNAL', 'cannot read the start time of this process from /proc/self/stat', { hint: 'berth needs /proc mounted' });
    self = `${process.pid}-${start}`;
  }
  return self;
}

/** A fresh name `<prefix><owner>-<random>` owned by this process. */
export function ownedName(prefix: string): string {
  return `${prefix}${ownerTag()}-${randomBytes(8).toString('hex')}`;
}

const OWNED = /^(\d+)-(\d+)-/;

/**
 * Whether the owner recorded in `name` (after `prefix`) is alive: 'alive', 'dead', or
 * 'unknown' for a name without an owner (a berth before owners were recorded made it).
 */
export function ownerState(name: string, prefix: string): 'alive' | 'dead' | 'unknown' {
  if (!name.startsWith(prefix)) return 'unknown';
  const m = OWNED.exec(name.slice(prefix.length));
  if (!m) return 'unknown';
  return processStartTime(Number(m[1])) === m[2] ? 'alive' : 'dead';
}
