/**
 * One interface for the container cgroup, with a cgroup v1 and a cgroup v2 implementation
 * (v1.ts, v2.ts). Every implementation is rooted at directories given to its constructor, so
 * unit tests point it at a temp dir.
 *
 * `path` is the OCI `linux.cgroupsPath` ("/berth/<id>"), always taken from the root of each
 * hierarchy (see paths.ts).
 */
import type { CompiledDeviceRules } from './devices.ts';
import type { CgroupResources, Unenforced } from './resources.ts';

export interface ApplyResult {
  /** Settings accepted but not in force (e.g. device rules on cgroup v2): the caller decides to warn or refuse. */
  unenforced: Unenforced[];
  /** cgroup v2: the device rules that a BPF_CGROUP_DEVICE program must enforce (not attached yet). */
  deviceRules?: CompiledDeviceRules;
}

export interface CgroupHandle extends ApplyResult {
  /** The normalized path, "/berth/<id>". */
  path: string;
  /** The cgroup directory in every hierarchy it was created in. */
  dirs: string[];
  /**
   * The cgroup.procs files a process writes itself into ("0" or its pid) to enter the cgroup in
   * every hierarchy. berth-init does this before any container code runs.
   */
  procsFiles: string[];
}

export interface CpuUsage {
  /** Nanoseconds. */
  total: number;
  /** Nanoseconds per CPU ([] on cgroup v2, which does not report it). */
  percpu: number[];
  kernel: number;
  user: number;
}

export interface CpuThrottling {
  periods: number;
  throttledPeriods: number;
  /** Nanoseconds. */
  throttledTime: number;
}

export interface MemoryUsage {
  usage: number;
  /** Peak usage (v1 max_usage_in_bytes, v2 memory.peak); 0 when the kernel does not report it. */
  max: number;
  /** null: no limit. */
  limit: number | null;
  failcnt: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  /** "Read", "Write", "Sync", "Async", "Discard", "Total". */
  op: string;
  value: number;
}

/** The data of `runc events --stats`; a section is absent when its controller is not there. */
export interface CgroupStats {
  cpu?: { usage: CpuUsage; throttling: CpuThrottling };
  memory?: {
    usage: MemoryUsage;
    /** memory + swap, as on cgroup v1 (v2 values are added up the way runc does). */
    swap: MemoryUsage;
    /** Page cache: v1 "cache", v2 "file" of memory.stat. */
    cache: number;
    /** memory.stat as is. */
    raw: Record<string, number>;
  };
  pids?: { current: number; limit: number | null };
  blkio?: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
}

export interface WatchOomOptions {
  signal?: AbortSignal;
  /** Poll interval; 250 ms by default. */
  intervalMs?: number;
}

export interface CgroupDriver {
  readonly version: 'v1' | 'v2';

  /**
   * Create the cgroup in every hierarchy it needs (ancestors included) and apply `resources`.
   * On failure, the directories this call created are removed again.
   */
  create(path: string, resources?: CgroupResources): Promise<CgroupHandle>;
  /** Write `resources` into an existing cgroup. */
  apply(path: string, resources: CgroupResources): Promise<ApplyResult>;
  /** Same as apply, for a running container (`berth update`); NOT_FOUND when the cgroup is gone. */
  update(path: string, resources: CgroupResources): Promise<ApplyResult>;
  /**
   * SIGKILL every process left in the cgroup and its descendants, wait until they are gone and
   * remove the directories, deepest first, in every hierarchy. Missing cgroups are fine.
   */
  destroy(path: string): Promise<void>;
  freeze(path: string): Promise<void>;
  thaw(path: string): Promise<void>;
  isFrozen(path: string): Promise<boolean>;
  /**
   * A process of the container at `path` that someone moved into a cgroup v1 freezer of their
   * own and froze cannot take a SIGKILL: it is moved back into the container's freezer cgroup
   * (thawed), where the pending signal ends it. Returns the frozen cgroup it was found in, or
   * undefined when there was nothing to do (not frozen, already the container's, cgroup v2:
   * a frozen v2 task takes a fatal signal). Throws when the container has no freezer cgroup of
   * its own to move it to.
   */
  rescueFrozen(pid: number, path: string): Promise<string | undefined>;
  /** Process ids in the cgroup (and its descendants when `recursive`). */
  pids(path: string, recursive?: boolean): Promise<number[]>;
  stats(path: string): Promise<CgroupStats>;
  /** How many processes the kernel OOM-killed in this cgroup. */
  oomKillCount(path: string): Promise<number>;
  /**
   * Yields the new OOM-kill count each time it grows. Polls the counter (eventfd
   * notification is a later step); ends when the signal aborts or the cgroup disappears.
   */
  watchOom(path: string, options?: WatchOomOptions): AsyncIterable<number>;
  /** Whether the cgroup exists (in the hierarchy that holds its processes). */
  exists(path: string): Promise<boolean>;
  /** The cgroup.procs files of `path`, without touching the filesystem. */
  procsFilesOf(path: string): string[];
}
