import type { State } from '../oci/index.ts';
import { BerthError } from '../common/index.ts';
import type { RuntimeCgroups, RuntimeContext } from './context.ts';
import { StateStore } from './state-store.ts';
import { SeccompCache } from './seccomp-cache.ts';
import { join } from 'node:path';
import { createContainer, planFor, type CreateOptions } from './create.ts';
import { startContainer } from './start.ts';
import { killContainer } from './kill.ts';
import { deleteContainer } from './delete.ts';
import { runContainer, type RunOptions, type RunResult } from './run.ts';
import { listContainers, type ListEntry } from './list.ts';
import { containerStatus } from './status.ts';
import { explainPlan } from './explain.ts';
import { hostCgroups } from './host-cgroups.ts';
import type { InitLauncher } from './init-process.ts';
import { updateContainer, containerEvents, type RuntimeEvent } from './update.ts';
import { execInContainer, explainExec, type ExecOptions, type ExecResult } from './exec.ts';
import type { Resources } from '../oci/index.ts';
import type { CgroupStats } from '../cgroups/index.ts';

export interface RuntimeOptions {
  /** State directory (runc's --root). */
  root?: string;
  /** cgroup access; the host's hierarchies by default. */
  cgroups?: RuntimeCgroups;
  /** How berth-init is started: 'auto' (default: 'posix' where koffi loads), 'posix'
   * (posix_spawn from a sealed memfd, no copy of this process, see src/native/spawn.ts) or
   * 'node' (child_process.spawn). */
  launcher?: InitLauncher;
  /** false: no cache of compiled seccomp filters (each container's is built by libseccomp). */
  seccompCache?: false;
}

/** berth's OCI runtime: runc's verbs as methods. */
export class Runtime {
  readonly ctx: RuntimeContext;

  constructor(opts: RuntimeOptions = {}) {
    // 'auto': posix_spawn where koffi loads, decided at the first container (nothing loads here)
    const store = new StateStore(opts.root);
    this.ctx = {
      store,
      cgroups: opts.cgroups ?? hostCgroups(),
      launcher: opts.launcher ?? 'auto',
      // kept beside the containers' state (a name no container id can have)
      seccompCache: opts.seccompCache === false ? undefined : new SeccompCache(join(store.rootDir, '.seccomp-cache')),
    };
  }

  async create(id: string, opts: CreateOptions): Promise<{ pid: number; warnings: string[] }> {
    const { pid, warnings } = await createContainer(this.ctx, id, { ...opts, foreground: false });
    return { pid, warnings };
  }

  start(id: string): Promise<{ warnings: string[] }> {
    return startContainer(this.ctx, id);
  }

  run(id: string, opts: RunOptions): Promise<RunResult> {
    return runContainer(this.ctx, id, opts);
  }

  /** The OCI state, with the fields runc adds (rootfs, created, owner) that callers such as go-runc read. */
  async state(id: string): Promise<State & { rootfs: string; created: string; owner: string }> {
    const stored = await this.ctx.store.read(id);
    const oci = this.ctx.store.ociState(stored, await containerStatus(this.ctx, stored));
    return { ...oci, rootfs: stored.rootfs, created: stored.created, owner: stored.owner ?? '' };
  }

  kill(id: string, signal: string | number = 'TERM', opts: { all?: boolean } = {}): Promise<void> {
    return killContainer(this.ctx, id, signal, opts);
  }

  delete(id: string, opts: { force?: boolean } = {}): Promise<{ warnings: string[] }> {
    return deleteContainer(this.ctx, id, opts);
  }

  list(): Promise<ListEntry[]> {
    return listContainers(this.ctx);
  }

  async pause(id: string): Promise<void> {
    const stored = await this.ctx.store.read(id);
    const status = await containerStatus(this.ctx, stored);
    if (status !== 'running' && status !== 'created') throw new BerthError('FAILED_PRECONDITION', `container "${id}" is ${status}, not running`);
    await this.ctx.cgroups.freeze(stored.cgroupPath);
  }

  async resume(id: string): Promise<void> {
    const stored = await this.ctx.store.read(id);
    const status = await containerStatus(this.ctx, stored);
    if (status !== 'paused') throw new BerthError('FAILED_PRECONDITION', `container "${id}" is ${status}, not paused`);
    await this.ctx.cgroups.thaw(stored.cgroupPath);
  }

  async ps(id: string): Promise<number[]> {
    const stored = await this.ctx.store.read(id);
    return this.ctx.cgroups.pids(stored.cgroupPath);
  }

  /** Runs another process in the container (runc exec). */
  exec(id: string, opts: ExecOptions): Promise<ExecResult> {
    return execInContainer(this.ctx, id, opts);
  }

  /** The plan `exec` would carry out, in words. */
  explainExec(id: string, opts: ExecOptions): Promise<string> {
    return explainExec(this.ctx, id, opts);
  }

  /** Changes the cgroup limits of a running container (runc update). */
  update(id: string, resources: Resources): Promise<{ warnings: string[] }> {
    return updateContainer(this.ctx, id, resources);
  }

  /** Stats and OOM events of a container (runc events). */
  events(id: string, opts: { intervalMs?: number; statsOnly?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<RuntimeEvent> {
    return containerEvents(this.ctx, id, opts);
  }

  /** The cgroup's statistics now (CPU, memory, pids, block I/O). */
  async stats(id: string): Promise<CgroupStats> {
    const stored = await this.ctx.store.read(id);
    return this.ctx.cgroups.stats(stored.cgroupPath);
  }

  /** The container's cgroup path (as the runtime made it). */
  async cgroupPath(id: string): Promise<string> {
    return (await this.ctx.store.read(id)).cgroupPath;
  }

  /** How many of the container's processes the kernel OOM-killed (the engine's OOMKilled). */
  async oomKillCount(id: string): Promise<number> {
    const stored = await this.ctx.store.read(id);
    return this.ctx.cgroups.oomKillCount(stored.cgroupPath);
  }

  /** The plan `create` would carry out, in words; nothing is created. */
  async explain(id: string, opts: CreateOptions): Promise<string> {
    const { plan } = await planFor(this.ctx, id, opts);
    const header = `plan for container ${JSON.stringify(id)} (bundle ${opts.bundleDir}): ${plan.steps.length} steps`;
    return explainPlan(plan.steps, header);
  }
}
