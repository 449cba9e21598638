import type { Resources } from '../oci/index.ts';
import type { CgroupStats } from '../cgroups/index.ts';
import type { CgroupEntry, CgroupHierarchy } from './compile.ts';
import type { StateStore } from './state-store.ts';
import type { SeccompCache } from './seccomp-cache.ts';
import type { InitLauncher } from './init-process.ts';
import type { ViewSources } from './limits-view.ts';

/** What the runtime needs of cgroups (src/cgroups provides it; tests may point it elsewhere). */
export interface RuntimeCgroups {
  /** Whether this process may create the cgroup (rootless callers usually may not). */
  canManage(path: string): Promise<boolean>;
  /** Where the container's cgroup would be, without creating anything. */
  preview(path: string): Promise<{ entry: CgroupEntry; hierarchies: CgroupHierarchy[] }>;
  /**
   * Creates the cgroup (or takes an existing one; one that holds processes already is not the
   * container's own: `owned` false) and applies the limits; warnings say what the host cannot
   * enforce.
   */
  create(path: string, resources: Resources | undefined): Promise<{ warnings: string[]; owned: boolean }>;
  /** What is in the cgroup before create: whether it exists, is frozen, and its processes. */
  inspect(path: string): Promise<{ exists: boolean; frozen: boolean; pids: number[] }>;
  /** Kills what is left in a cgroup the container owns and removes it (cgroup.kill on v2). */
  destroy(path: string): Promise<void>;
  isFrozen(path: string): Promise<boolean>;
  /** Moves a container's process that someone froze in a cgroup v1 freezer of theirs back into the
   * container's cgroup (`path`; '' for none: an error then), so that SIGKILL ends it. */
  rescueFrozen(pid: number, path: string): Promise<string | undefined>;
  freeze(path: string): Promise<void>;
  thaw(path: string): Promise<void>;
  pids(path: string): Promise<number[]>;
  /** Changes the limits of a live cgroup; returns warnings for what is not enforced. */
  update(path: string, resources: Resources): Promise<string[]>;
  stats(path: string): Promise<CgroupStats>;
  /** How many processes the kernel OOM-killed in the cgroup so far. */
  oomKillCount(path: string): Promise<number>;
  /** The file that counts them ("oom_kill N": v2 memory.events, v1 memory.oom_control). */
  oomCounterFile(path: string): Promise<string | undefined>;
  /** The cgroup files a limits view of the container reads (limits-view.ts). */
  viewSources(path: string): Promise<ViewSources>;
  /** Wakes `wait()` when the kernel reports an OOM event for the cgroup (v1 eventfd, v2 inotify). */
  oomNotifier(path: string): Promise<OomNotifier>;
}

export interface OomNotifier {
  /** Resolves at the next notification (or at once if one came since the last call). */
  wait(): Promise<void>;
  close(): void;
}

export interface RuntimeContext {
  store: StateStore;
  /** Compiled seccomp filters (none: libseccomp builds each container's filter). */
  seccompCache?: SeccompCache | undefined;
  cgroups: RuntimeCgroups;
  /** How berth-init is started (default 'node'; see InitLauncher). */
  launcher?: InitLauncher | undefined;
}
