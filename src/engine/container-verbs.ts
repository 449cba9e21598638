/**
 * The verbs that change a container: start, stop, kill, pause, unpause, restart, wait, remove,
 * prune, rename, update, and the monitor's `cleanup`. Each takes the container's lock around
 * what touches the kernel and asks container-status.ts whether it may act.
 */
import { detachNetworks } from './networks.ts';
import { dirSize } from './dir-size.ts';
import { anonymousVolumesOf, removeVolume } from './volumes.ts';
import { readFileSync } from 'node:fs';
import { lstat, readdir, rm, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, isErrno } from '../common/index.ts';
import type { Resources, RuntimeConfig } from '../oci/index.ts';
import { parseSignal } from '../runtime/index.ts';
import { processStartTime } from '../storage/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths } from './container-paths.ts';
import { assertTransition } from './container-status.ts';
import { validateName, type ContainerRecord } from './container-store.ts';
import { openAttach, SEND_CLIENT_CLEANS } from './container-attach.ts';
import { resourcesOf, type RunSpec } from './container-spec.ts';
import {
  finishLocked,
  ignoreNotFound,
  isActive,
  isAlive,
  observe,
  restartDelayMs,
  settle,
  shouldRestart,
  startLocked,
  type StartOptions,
} from './container-lifecycle.ts';

/** Runs `fn` holding the container's lock, on its fresh record. */
export async function withLock<T>(ctx: EngineContext, id: string, op: string, fn: (rec: ContainerRecord) => Promise<T>): Promise<T> {
  const release = await ctx.containers.lock(id, op);
  try {
    const rec = ctx.containers.get(id);
    if (!rec) throw new BerthError('NOT_FOUND', `No such container: ${id}`);
    return await fn(rec);
  } finally {
    release();
  }
}

/** A container by ID, name or ID prefix, its record settled (a process found gone is finished). */
export async function settled(ctx: EngineContext, ref: string): Promise<ContainerRecord> {
  const rec = ctx.containers.resolve(ref);
  const fresh = await settle(ctx, rec.id);
  if (!fresh) throw new BerthError('NOT_FOUND', `No such container: ${ref}`);
  return fresh;
}

export async function startContainer(ctx: EngineContext, ref: string, opts: StartOptions & { isLocked?: boolean } = {}): Promise<ContainerRecord> {
  if (opts.isLocked) {
    // created by this process and still locked by it (a run): started at once, then unlocked
    const rec = ctx.containers.resolve(ref);
    try {
      return await startLocked(ctx, rec, opts);
    } finally {
      ctx.containers.release(rec.id);
    }
  }
  const rec = await settled(ctx, ref);
  return withLock(ctx, rec.id, 'start', async (fresh) => {
    // docker: starting a running container does nothing
    if (fresh.status === 'running' && observe(fresh) === 'live') return fresh;
    if (fresh.status === 'restarting') ctx.containers.update(fresh.id, { status: 'exited', monitorPid: 0, monitorStart: '' });
    return startLocked(ctx, fresh.status === 'restarting' ? { ...fresh, status: 'exited' } : fresh, opts);
  });
}

function stopSignalOf(rec: ContainerRecord, signal?: string): number {
  const image = rec.config as { StopSignal?: string };
  return parseSignal(signal ?? rec.spec.stopSignal ?? image.StopSignal ?? 'SIGTERM');
}

/**
 * Tells the container's monitor that this process finishes the container (so it starts no exit
 * command); the connection stays open until `close`.
 */
async function takeOverFinish(ctx: EngineContext, rec: ContainerRecord): Promise<{ close(): void }> {
  try {
    const session = await openAttach(containerPaths(ctx.paths, rec.id).attachPath);
    await session.send(SEND_CLIENT_CLEANS);
    return session;
  } catch {
    return { close: () => undefined }; // no monitor to tell
  }
}

/** Waits until the process is gone (true) or the time is up (false). */
async function waitGone(pid: number, start: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (!isAlive(pid, start) || isZombie(pid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/**
 * docker stop: the stop signal, then SIGKILL after `timeoutSec` (-1: wait for ever), then the
 * container finished. A container that is not running is left as it is.
 */
export async function stopContainer(ctx: EngineContext, ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<ContainerRecord> {
  let rec = await settled(ctx, ref);
  const signal = stopSignalOf(rec, opts.signal);
  let monitor: { close(): void } | undefined;
  const target = await withLock(ctx, rec.id, 'stop', async (fresh) => {
    if (fresh.status === 'restarting') {
      // the cleanup waiting to restart it sees this and gives up
      ctx.containers.update(fresh.id, { status: 'exited', stoppedByUser: true, monitorPid: 0, monitorStart: '' });
      return undefined;
    }
    if (!isActive(fresh) || observe(fresh) !== 'live') {
      if (fresh.status === 'created' || fresh.status === 'exited') return undefined;
      ctx.containers.update(fresh.id, { stoppedByUser: true });
      return undefined;
    }
    ctx.containers.update(fresh.id, { stoppedByUser: true });
    // this command finishes it: no exit command has to start
    monitor = await takeOverFinish(ctx, fresh);
    const runtime = ctx.runtime();
    await runtime.kill(fresh.id, signal).catch((err: unknown) => {
      // it ended between the look and the signal (a restart policy's short-lived run): stopped
      if (err instanceof BerthError && err.code === 'FAILED_PRECONDITION' && (!isAlive(fresh.pid, fresh.pidStart) || isZombie(fresh.pid))) return;
      ignoreNotFound(err);
    });
    // a frozen process handles no signal: thaw it
    if (fresh.status === 'paused') await runtime.resume(fresh.id).catch(() => undefined);
    return fresh;
  });
  if (target) {
    const timeoutSec = opts.timeoutSec ?? rec.spec.stopTimeout ?? 10;
    const gone = await waitGone(target.pid, target.pidStart, timeoutSec < 0 ? Number.MAX_SAFE_INTEGER : timeoutSec * 1000);
    if (!gone) {
      await ctx.runtime().kill(target.id, 'KILL').catch(ignoreNotFound);
      await waitGone(target.pid, target.pidStart, 10_000);
    }
    // the monitor writes the exit record and leaves; then the container is finished here
    await waitGone(target.monitorPid, target.monitorStart, 5_000);
    monitor?.close();
  }
  rec = (await settle(ctx, rec.id)) ?? rec;
  // after its `die`, as docker orders them
  if (target) ctx.containers.event('container', 'stop', target.id, { name: target.name, image: target.imageRef });
  return rec;
}

export async function killContainer(ctx: EngineContext, ref: string, signal = 'KILL'): Promise<ContainerRecord> {
  const rec = await settled(ctx, ref);
  const number = parseSignal(signal);
  return withLock(ctx, rec.id, 'kill', async (fresh) => {
    const status = isActive(fresh) && observe(fresh) !== 'live' ? 'exited' : fresh.status;
    assertTransition('kill', status, fresh.id);
    // docker: a killed container is not restarted by unless-stopped or on-failure
    ctx.containers.update(fresh.id, { stoppedByUser: true });
    await ctx.runtime().kill(fresh.id, number);
    ctx.containers.event('container', 'kill', fresh.id, { name: fresh.name, image: fresh.imageRef, signal: String(number) });
    return fresh;
  });
}

export async function pauseContainer(ctx: EngineContext, ref: string): Promise<void> {
  const rec = await settled(ctx, ref);
  await withLock(ctx, rec.id, 'pause', async (fresh) => {
    assertTransition('pause', isActive(fresh) && observe(fresh) !== 'live' ? 'exited' : fresh.status, fresh.id);
    await ctx.runtime().pause(fresh.id);
    ctx.containers.update(fresh.id, { status: 'paused' });
    ctx.containers.event('container', 'pause', fresh.id, { name: fresh.name, image: fresh.imageRef });
  });
}

export async function unpauseContainer(ctx: EngineContext, ref: string): Promise<void> {
  const rec = await settled(ctx, ref);
  await withLock(ctx, rec.id, 'unpause', async (fresh) => {
    assertTransition('unpause', fresh.status, fresh.id);
    await ctx.runtime().resume(fresh.id);
    ctx.containers.update(fresh.id, { status: 'running' });
    ctx.containers.event('container', 'unpause', fresh.id, { name: fresh.name, image: fresh.imageRef });
  });
}

export async function restartContainer(ctx: EngineContext, ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<ContainerRecord> {
  const rec = await stopContainer(ctx, ref, opts);
  const started = await startContainer(ctx, rec.id);
  ctx.containers.event('container', 'restart', rec.id, { name: rec.name, image: rec.imageRef });
  return started;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** How long an ended --rm container may wait for its finisher before `wait removed` removes it. */
const REMOVE_GRACE_MS = 10_000;

/** docker wait: the exit code once the condition holds. */
export async function waitContainer(ctx: EngineContext, ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<{ StatusCode: number; Error?: { Message: string } }> {
  let last = ctx.containers.resolve(ref);
  const since = Date.now();
  let endedSince: number | undefined;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    signal?.throwIfAborted();
    const rec = await settle(ctx, last.id, 30_000);
    // removed (--rm): its exit code is the one its last run ended with
    if (!rec) return { StatusCode: ctx.containers.lastExitCode(last.id) ?? last.exitCode };
    last = rec;
    const ended = !isActive(rec);
    if (condition === 'not-running' && ended) return result(rec);
    if (condition === 'next-exit' && ended && rec.finishedAt && Date.parse(rec.finishedAt) >= since - 5) return result(rec);
    if (condition === 'removed' && ended && rec.spec.autoRemove) {
      // its finisher removes it within moments; one that went away (a client killed between
      // the exit and the removal) would leave the waiter waiting for good: done here instead
      endedSince ??= Date.now();
      if (Date.now() - endedSince > REMOVE_GRACE_MS) {
        await removeIfEnded(ctx, rec.id, 'remove').catch(ignoreNotFound);
        continue;
      }
    }
    // a change this process makes (berth serve finishing a container) wakes it at once
    await Promise.race([sleep(delay), ctx.containers.nextChange()]);
  }
}

function result(rec: ContainerRecord): { StatusCode: number; Error?: { Message: string } } {
  return rec.error ? { StatusCode: rec.exitCode, Error: { Message: rec.error } } : { StatusCode: rec.exitCode };
}

/** Removes a container under its lock if it is not running (any more): prune, and `wait removed`. */
function removeIfEnded(ctx: EngineContext, id: string, op: string): Promise<void> {
  return withLock(ctx, id, op, async (locked) => {
    if (!isActive(locked)) await removeLocked(ctx, locked);
  });
}

/** Removes a container that is not running (the caller holds its lock); with `volumes` (rm -v,
 * and always for --rm) its anonymous volumes that no other container uses go too. */
export async function removeLocked(ctx: EngineContext, rec: ContainerRecord, opts: { volumes?: boolean } = {}): Promise<void> {
  const paths = containerPaths(ctx.paths, rec.id);
  const anonymous = opts.volumes || rec.spec.autoRemove ? anonymousVolumesOf(ctx, rec.id) : [];
  ctx.containers.update(rec.id, { status: 'removing' });
  try {
    await ctx.runtime().delete(rec.id, { force: true }).catch(ignoreNotFound);
    // a start killed half-way may have left leases (the record's endpoints go with it)
    await detachNetworks(ctx, rec.id);
    await rm(paths.attachPath, { force: true });
    await rm(paths.dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    ctx.containers.update(rec.id, { status: 'dead', error: `removal failed: ${err instanceof Error ? err.message : String(err)}` });
    throw err;
  }
  ctx.db.transaction(() => {
    ctx.containers.remove(rec.id);
    ctx.containers.event('container', 'destroy', rec.id, { name: rec.name, image: rec.imageRef });
  });
  for (const name of anonymous) removeVolume(ctx, name);
}

/** docker rm [-f]: a running container only with force (SIGKILL first). */
export async function removeContainer(ctx: EngineContext, ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<ContainerRecord> {
  const rec = ctx.containers.resolve(ref);
  return withLock(ctx, rec.id, 'remove', async (fresh) => {
    const seen = isActive(fresh) ? observe(fresh) : undefined;
    if (seen === 'live' || (seen === 'ending' && fresh.status === 'restarting')) {
      if (!opts.force) assertTransition('remove', fresh.status, fresh.id);
      ctx.containers.update(fresh.id, { stoppedByUser: true });
      if (seen === 'live') {
        const monitor = await takeOverFinish(ctx, fresh);
        await ctx.runtime().kill(fresh.id, 'KILL').catch(ignoreNotFound);
        await waitGone(fresh.pid, fresh.pidStart, 10_000);
        // the monitor writes the exit record into the directory about to go: it leaves first
        await waitGone(fresh.monitorPid, fresh.monitorStart, 5_000);
        monitor.close();
      }
    }
    // ended, or its monitor gone: finished here (a cleanup still to come finds nothing to do)
    return finishAndRemove(ctx, fresh, opts.volumes === true);
  });
}

async function finishAndRemove(ctx: EngineContext, rec: ContainerRecord, volumes = false): Promise<ContainerRecord> {
  const finished = isActive(rec) ? await finishLocked(ctx, rec) : rec;
  await removeLocked(ctx, finished, { volumes });
  return finished;
}

/** docker container prune: every container that is not running. */
export async function pruneContainers(ctx: EngineContext, opts: { until?: number; labels?: (rec: ContainerRecord) => boolean } = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const rec of ctx.containers.list()) {
    if (opts.until !== undefined && Date.parse(rec.createdAt) >= opts.until) continue;
    if (opts.labels && !opts.labels(rec)) continue;
    const fresh = await settle(ctx, rec.id);
    if (!fresh || isActive(fresh)) continue;
    try {
      reclaimed += await dirSize(containerPaths(ctx.paths, rec.id).upperDir);
      await removeIfEnded(ctx, rec.id, 'prune');
      deleted.push(rec.id);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') continue;
      throw err;
    }
  }
  return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
}

export { dirSize };

export async function renameContainer(ctx: EngineContext, ref: string, newName: string): Promise<void> {
  const rec = ctx.containers.resolve(ref);
  const name = validateName(newName);
  if (name === rec.name) throw new BerthError('CONFLICT', `Renaming a container with the same name as its current name`);
  ctx.db.transaction(() => {
    const taken = ctx.db.get<{ id: string }>('SELECT id FROM containers WHERE name = ?', name);
    if (taken) {
      throw new BerthError('CONFLICT', `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    ctx.containers.update(rec.id, { name });
  });
  ctx.containers.event('container', 'rename', rec.id, { name, oldName: `/${rec.name}` });
}

/** The limits `update` changes live (run's own fields), and the restart policy. */
export type UpdateSpec = Pick<
  RunSpec,
  'memory' | 'memorySwap' | 'memoryReservation' | 'cpus' | 'cpuShares' | 'cpuQuota' | 'cpuPeriod' | 'cpusetCpus' | 'cpusetMems' | 'pidsLimit' | 'blkioWeight' | 'restart'
>;

/** docker update: the limits of a live container change at once and stay for its next start. */
export async function updateContainer(ctx: EngineContext, ref: string, update: UpdateSpec): Promise<{ warnings: string[] }> {
  const rec = await settled(ctx, ref);
  return withLock(ctx, rec.id, 'update', async (fresh) => {
    const spec: RunSpec = { ...fresh.spec };
    for (const [key, value] of Object.entries(update)) if (value !== undefined) (spec as unknown as Record<string, unknown>)[key] = value;
    if (update.memory !== undefined && update.memorySwap === undefined && fresh.spec.memorySwap === undefined) delete spec.memorySwap;
    if (update.restart && update.restart.name !== 'no' && fresh.spec.autoRemove) throw new BerthError('INVALID_ARGUMENT', 'Restart policy cannot be updated because AutoRemove is enabled for the container');
    const resources: Resources = resourcesOf(spec);
    const paths = containerPaths(ctx.paths, fresh.id);
    const config = JSON.parse(await readFile(paths.configPath, 'utf8')) as RuntimeConfig;
    config.linux = { ...config.linux, resources: { ...config.linux?.resources, ...resources } };
    let warnings: string[] = [];
    if (isActive(fresh) && observe(fresh) === 'live') ({ warnings } = await ctx.runtime().update(fresh.id, resources));
    await writeFile(paths.configPath, JSON.stringify(config), { mode: 0o600 });
    ctx.containers.update(fresh.id, { spec });
    ctx.containers.event('container', 'update', fresh.id, { name: fresh.name, image: fresh.imageRef });
    return { warnings };
  });
}

/**
 * `berth container cleanup ID`, the monitor's exit command: finish the container, then remove
 * it (--rm) or restart it (its policy, with docker's back-off) while nobody stops it.
 */
export async function cleanupContainer(ctx: EngineContext, id: string): Promise<void> {
  if (!ctx.containers.get(id)) return;
  let delay: number | undefined;
  await withLock(ctx, id, 'cleanup', async (rec) => {
    if (!isActive(rec) || rec.status === 'restarting' || observe(rec) === 'live') return;
    const finished = await finishLocked(ctx, rec);
    if (finished.spec.autoRemove) return removeLocked(ctx, finished);
    if (!shouldRestart(finished)) return;
    delay = restartDelayMs(finished.restartCount, Date.parse(finished.finishedAt) - Date.parse(finished.startedAt));
    ctx.containers.update(id, { status: 'restarting', monitorPid: process.pid, monitorStart: processStartTime(process.pid) ?? '' });
  }).catch(ignoreNotFound);
  if (delay === undefined) return;
  await sleep(delay);
  await withLock(ctx, id, 'restart', async (rec) => {
    if (rec.status !== 'restarting' || rec.monitorPid !== process.pid) return; // stopped or removed meanwhile
    // still "restarting" to every reader until it runs: a reader never sees the count of the
    // next run on a container that looks exited for good
    const ready = { ...rec, status: 'exited' as const, restartCount: rec.restartCount + 1 };
    ctx.containers.update(id, { restartCount: ready.restartCount });
    try {
      await startLocked(ctx, ready);
    } catch (err) {
      ctx.containers.update(id, { status: 'exited', monitorPid: 0, monitorStart: '' });
      throw err;
    }
    ctx.containers.event('container', 'restart', id, { name: rec.name, image: rec.imageRef });
  }).catch(ignoreNotFound);
}
