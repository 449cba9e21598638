import type { NamespaceType } from './types.ts';

/** Namespace types of the OCI spec, in the order error messages list them. */
export const NAMESPACE_TYPES: readonly NamespaceType[] = Object.freeze([
  'pid',
  'network',
  'mount',
  'ipc',
  'uts',
  'user',
  'cgroup',
  'time',
]);

/** clone(2)/unshare(2) flag of each namespace type (<linux/sched.h>). */
export const NAMESPACE_CLONE_FLAGS: Readonly<Record<NamespaceType, number>> = Object.freeze({
  mount: 0x0002_0000, // CLONE_NEWNS
  cgroup: 0x0200_0000, // CLONE_NEWCGROUP
  uts: 0x0400_0000, // CLONE_NEWUTS
  ipc: 0x0800_0000, // CLONE_NEWIPC
  user: 0x1000_0000, // CLONE_NEWUSER
  pid: 0x2000_0000, // CLONE_NEWPID
  network: 0x4000_0000, // CLONE_NEWNET
  time: 0x0000_0080, // CLONE_NEWTIME
});

/** Name of the entry under /proc/<pid>/ns/ for each type. */
export const NAMESPACE_PROC_NAMES: Readonly<Record<NamespaceType, string>> = Object.freeze({
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
  time: 'time',
});

export function isNamespaceType(value: string): value is NamespaceType {
  return (NAMESPACE_TYPES as readonly string[]).includes(value);
}
