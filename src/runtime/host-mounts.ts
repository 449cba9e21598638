/**
 * A container without a mount namespace of its own makes its mounts (config.mounts) in its
 * caller's, under its root, as runc does. runc leaves them there after the container; berth
 * takes them down at delete (and when a create fails): the mounts below the root that were not
 * there before the create, deepest first, detached.
 */
import { readFileSync } from 'node:fs';
import { parseMountinfo } from '../cgroups/index.ts';
import { detachMount } from '../native/sys.ts';

export interface HostMounts {
  /** The container's root, resolved (mountinfo shows resolved paths). */
  root: string;
  /** The ids of the mounts at or below the root before the create: these are not the container's. */
  before: number[];
}

function mountsUnder(root: string): { id: number; mountPoint: string }[] {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === root || m.mountPoint.startsWith(prefix));
}

/** What is mounted at and below `root` now (recorded before the container mounts anything). */
export function hostMountsBefore(root: string): HostMounts {
  return { root, before: mountsUnder(root).map((m) => m.id) };
}

/** Detaches what the container mounted under its root, the last mounted first; what was there
 * before stays. Returns the mount points taken down. */
export function releaseHostMounts(record: HostMounts): string[] {
  const before = new Set(record.before);
  const made = mountsUnder(record.root).filter((m) => !before.has(m.id));
  const done: string[] = [];
  // mountinfo lists a namespace's mounts in the order they were made: undone from the end
  for (const m of made.reverse()) if (detachMount(m.mountPoint)) done.push(m.mountPoint);
  return done;
}
