/**
 * The container side of the engine as one object: what `berth` (and the API server and other
 * Node programs) call. Every method works on the records of one state root; none prints.
 */
import type { EngineContext } from './container-context.ts';
import { createContainer, type CreateOptions, type CreateResult } from './container-create.ts';
import type { RunSpec } from './container-spec.ts';
import type { ContainerEvent, ContainerRecord } from './container-store.ts';
import { runContainer, type RunOptions, type RunResult } from './container-run.ts';
import {
  cleanupContainer,
  killContainer,
  pauseContainer,
  pruneContainers,
  removeContainer,
  renameContainer,
  restartContainer,
  startContainer,
  stopContainer,
  unpauseContainer,
  updateContainer,
  waitContainer,
  type UpdateSpec,
  type WaitCondition,
} from './container-verbs.ts';
import { inspectContainer, listContainers, readFullStats, sampleStats, topContainer, type ContainerSummary, type FullStats, type StatsSample } from './container-view.ts';
import { readLogs, type LogEntry, type LogsOptions } from './container-logs.ts';
import { execContainer, type ExecSpec } from './container-exec.ts';
import { openAttach, pumpAttach, type AttachResult, type AttachStreams } from './container-attach.ts';
import { effectiveRecord, type StartOptions } from './container-lifecycle.ts';
import { containerPaths } from './container-paths.ts';
import { diffContainer, exportContainer, type FsChange } from './container-fs.ts';
import { commitContainer, type CommitOptions, type CommitResult } from './container-commit.ts';
import { copyFiles, statContainerPath, type ContainerPathStat, type CopyEnd, type CopyOptions } from './container-cp.ts';
import { BerthError } from '../common/index.ts';
import type { ExecResult } from '../runtime/index.ts';
import { parseSignal } from '../runtime/index.ts';

export class Containers {
  readonly ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.ctx = ctx;
  }

  create(spec: RunSpec, opts: CreateOptions = {}): Promise<CreateResult> {
    return createContainer(this.ctx, spec, opts);
  }

  /** create + start, attached (streams) or detached; with autoRemove the container is gone after. */
  run(spec: RunSpec, opts: RunOptions = {}): Promise<RunResult> {
    return runContainer(this.ctx, spec, opts);
  }

  start(ref: string, opts: StartOptions = {}): Promise<ContainerRecord> {
    return startContainer(this.ctx, ref, opts);
  }

  stop(ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<ContainerRecord> {
    return stopContainer(this.ctx, ref, opts);
  }

  restart(ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<ContainerRecord> {
    return restartContainer(this.ctx, ref, opts);
  }

  kill(ref: string, signal = 'KILL'): Promise<ContainerRecord> {
    return killContainer(this.ctx, ref, signal);
  }

  /** A signal to the container's process that is no `kill` of the user's (docker's sig-proxy). */
  async signal(ref: string, signal: string | number): Promise<void> {
    const rec = this.ctx.containers.resolve(ref);
    await this.ctx.runtime().kill(rec.id, typeof signal === 'number' ? signal : parseSignal(signal));
  }

  pause(ref: string): Promise<void> {
    return pauseContainer(this.ctx, ref);
  }

  unpause(ref: string): Promise<void> {
    return unpauseContainer(this.ctx, ref);
  }

  wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error?: { Message: string } }> {
    return waitContainer(this.ctx, ref, condition, signal);
  }

  remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<ContainerRecord> {
    return removeContainer(this.ctx, ref, opts);
  }

  prune(opts: { until?: number; labels?: (rec: ContainerRecord) => boolean } = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    return pruneContainers(this.ctx, opts);
  }

  rename(ref: string, newName: string): Promise<void> {
    return renameContainer(this.ctx, ref, newName);
  }

  update(ref: string, update: UpdateSpec): Promise<{ warnings: string[] }> {
    return updateContainer(this.ctx, ref, update);
  }

  /** The record, as it truly is now. */
  get(ref: string): ContainerRecord {
    return effectiveRecord(this.ctx, this.ctx.containers.resolve(ref));
  }

  list(opts: { all?: boolean } = {}): ContainerSummary[] {
    return listContainers(this.ctx, opts);
  }

  inspect(ref: string): Promise<Record<string, unknown>> {
    return inspectContainer(this.ctx, ref);
  }

  logs(ref: string, opts: LogsOptions = {}): AsyncGenerator<LogEntry> {
    return readLogs(this.ctx, ref, opts);
  }

  exec(ref: string, spec: ExecSpec): Promise<ExecResult> {
    return execContainer(this.ctx, ref, spec);
  }

  /** Attaches the caller's streams to a running container until it ends or the user detaches. */
  async attach(ref: string, streams: AttachStreams, opts: { onResize?: (resize: (rows: number, cols: number) => void) => () => void } = {}): Promise<AttachResult> {
    const rec = this.get(ref);
    if (rec.status === 'paused') throw new BerthError('CONFLICT', 'You cannot attach to a paused container, unpause it first');
    if (rec.status !== 'running') throw new BerthError('CONFLICT', 'You cannot attach to a stopped container, start it first');
    const session = await openAttach(containerPaths(this.ctx.paths, rec.id).attachPath);
    const unsubscribe = opts.onResize?.((rows, cols) => session.resize(rows, cols));
    try {
      return await pumpAttach(session, { ...streams, tty: rec.spec.tty === true, stdin: rec.spec.interactive ? streams.stdin : undefined });
    } finally {
      unsubscribe?.();
    }
  }

  /** Sets the size of a running container's terminal (through its monitor). */
  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const rec = this.get(ref);
    if (rec.status !== 'running' && rec.status !== 'paused') throw new BerthError('CONFLICT', `Container ${rec.id} is not running`);
    if (rec.spec.tty !== true) return;
    const session = await openAttach(containerPaths(this.ctx.paths, rec.id).attachPath);
    session.resize(rows, cols);
    session.end();
  }

  top(ref: string, psArgs?: string[]): Promise<{ Titles: string[]; Processes: string[][] }> {
    return topContainer(this.ctx, ref, psArgs);
  }

  async stats(ref: string): Promise<StatsSample | undefined> {
    return sampleStats(this.ctx, this.get(ref));
  }

  /** Everything one reading of a running container gives: its cgroup's counters, its
   * network's, the host's CPU time (undefined when it is not running). */
  async fullStats(ref: string): Promise<FullStats | undefined> {
    return readFullStats(this.ctx, this.get(ref));
  }

  /** docker diff: what the container changed in its image's filesystem (C, A, D). */
  diff(ref: string): Promise<FsChange[]> {
    return diffContainer(this.ctx, this.ctx.containers.resolve(ref));
  }

  /** docker export: the container's filesystem as a tar stream. */
  export(ref: string): AsyncGenerator<Uint8Array> {
    return exportContainer(this.ctx, this.ctx.containers.resolve(ref));
  }

  /** docker commit: a new image of the container's image and its changes. */
  commit(ref: string, opts: CommitOptions = {}): Promise<CommitResult> {
    return commitContainer(this.ctx, ref, opts);
  }

  /** docker cp: files between a container (running or stopped) and the host or a tar stream. */
  cp(from: CopyEnd, to: CopyEnd, opts: CopyOptions = {}): Promise<void> {
    return copyFiles(this.ctx, from, to, opts);
  }

  /** What a container path is (docker's archive stat), resolved inside the container. */
  statPath(ref: string, path: string): Promise<ContainerPathStat> {
    return statContainerPath(this.ctx, ref, path);
  }

  /** The monitor's exit command. */
  cleanup(id: string): Promise<void> {
    return cleanupContainer(this.ctx, id);
  }

  /** The engine's events from `since` (an event id) on, as they come; ends with the signal. */
  async *events(opts: { since?: number; signal?: AbortSignal; follow?: boolean } = {}): AsyncGenerator<ContainerEvent> {
    let last = opts.since ?? 0;
    for (;;) {
      const batch = this.ctx.containers.events(last);
      for (const e of batch) {
        last = e.id;
        yield e;
      }
      if (opts.follow === false) return;
      if (opts.signal?.aborted) return;
      if (batch.length === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 100);
          opts.signal?.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
      }
    }
  }
}
