/**
 * Which cgroup hierarchies this machine mounts: pure v2 (unified), pure v1, or hybrid
 * (v1 controllers on a tmpfs plus a cgroup2 mount, usually `<root>/unified`).
 *
 * The root's filesystem type (statfs) tells v2 from the rest; /proc/self/mountinfo tells
 * which controllers each v1 mount carries, so co-mounts such as `cpu,cpuacct` and separate
 * `cpu` and `cpuacct` mounts are both found.
 */
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { errnoText, readControl, readControlIfExists } from './fs.ts';

export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const CGROUP_SUPER_MAGIC = 0x27e0eb;
export const TMPFS_MAGIC = 0x01021994;

/** Controllers of cgroup v1 (the names that may appear in a v1 mount's options). */
export const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'net_prio',
  'blkio',
  'perf_event',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
] as const;

export interface CgroupLayout {
  kind: 'v1' | 'v2' | 'hybrid';
  /** The directory searched, e.g. /sys/fs/cgroup. */
  root: string;
  /**
   * v1 controller → its mount directory. Co-mounted controllers share a directory
   * (`cpu` and `cpuacct` → /sys/fs/cgroup/cpu,cpuacct). Named hierarchies appear as
   * `name=<name>` (e.g. `name=systemd`).
   */
  v1Mounts: Map<string, string>;
  /** The cgroup2 mount: the root itself on v2, e.g. <root>/unified on hybrid. */
  v2Dir?: string;
  /** Controllers available at the cgroup2 mount (its cgroup.controllers); [] when none. */
  v2Controllers: string[];
}

export interface DetectLayoutOptions {
  /** Text of /proc/self/mountinfo (read from /proc when absent). */
  mountinfo?: string;
  /** Filesystem magic of a path (statfs f_type); injectable for tests. */
  fsType?: (path: string) => Promise<number>;
}

export interface MountEntry {
  /** The mount's id (unique while it is mounted). */
  id: number;
  mountPoint: string;
  root: string;
  fsType: string;
  superOptions: string[];
}

/** Mount entries of a mountinfo text (mount points with \040-style escapes decoded). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 3) continue;
    out.push({
      id: Number(fields[0]),
      root: unescapeMountField(fields[3] ?? ''),
      mountPoint: unescapeMountField(fields[4] ?? ''),
      fsType: fields[dash + 1] ?? '',
      superOptions: (fields[dash + 3] ?? '').split(','),
    });
  }
  return out;
}

function unescapeMountField(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The v1 controllers (and `name=` hierarchies) carried by a v1 mount's options. */
export function controllersOfMount(superOptions: string[]): string[] {
  const known: readonly string[] = V1_CONTROLLERS;
  return superOptions.filter((option) => known.includes(option) || option.startsWith('name='));
}

async function defaultFsType(path: string): Promise<number> {
  try {
    return (await statfs(path)).type;
  } catch (err) {
    throw new BerthError('FAILED_PRECONDITION', `cannot inspect the cgroup root ${path}: ${errnoText(err)}`, {
      cause: err,
      hint: 'mount cgroup2 (or the cgroup v1 hierarchies) at /sys/fs/cgroup',
    });
  }
}

function isUnder(path: string, root: string): boolean {
  const base = root.endsWith('/') ? root : `${root}/`;
  return path.startsWith(base);
}

/** Find the cgroup hierarchies mounted at (or below) `root`. */
export async function detectCgroupLayout(root = '/sys/fs/cgroup', options: DetectLayoutOptions = {}): Promise<CgroupLayout> {
  const fsType = options.fsType ?? defaultFsType;
  const type = await fsType(root);
  if (type === CGROUP2_SUPER_MAGIC) {
    return { kind: 'v2', root, v1Mounts: new Map(), v2Dir: root, v2Controllers: await readControllers(root) };
  }
  const mountinfo = options.mountinfo ?? (await readControl('/proc/self/mountinfo'));
  const v1Mounts = new Map<string, string>();
  let v2Dir: string | undefined;
  for (const entry of parseMountinfo(mountinfo)) {
    const isInside = entry.mountPoint === root || isUnder(entry.mountPoint, root);
    if (!isInside) continue;
    if (entry.fsType === 'cgroup') {
      for (const controller of controllersOfMount(entry.superOptions)) {
        if (!v1Mounts.has(controller)) v1Mounts.set(controller, entry.mountPoint);
      }
    } else if (entry.fsType === 'cgroup2' && v2Dir === undefined) {
      v2Dir = entry.mountPoint;
    }
  }
  if (v1Mounts.size === 0 && v2Dir === undefined) {
    throw new BerthError('FAILED_PRECONDITION', `no cgroup hierarchy is mounted at ${root}`, {
      hint: 'mount cgroup2 at /sys/fs/cgroup (or the cgroup v1 hierarchies below it)',
    });
  }
  const v2Controllers = v2Dir === undefined ? [] : await readControllers(v2Dir);
  if (v1Mounts.size === 0) return { kind: 'v2', root, v1Mounts, v2Dir: v2Dir as string, v2Controllers };
  const layout: CgroupLayout = { kind: v2Dir === undefined ? 'v1' : 'hybrid', root, v1Mounts, v2Controllers };
  if (v2Dir !== undefined) layout.v2Dir = v2Dir;
  return layout;
}

async function readControllers(dir: string): Promise<string[]> {
  const text = await readControlIfExists(join(dir, 'cgroup.controllers'));
  return text === undefined ? [] : text.split(/\s+/).filter((name) => name !== '');
}
