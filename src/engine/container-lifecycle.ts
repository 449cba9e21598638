/**
 * A container's life with no daemon: `start` creates it through the runtime with berth-init
 * staying as its monitor, and whoever sees it end finishes it: the monitor's exit command
 * (`berth container cleanup`), a foreground `run` that took that job, or any verb that finds
 * the process and its monitor gone (a killed monitor). Finishing is idempotent and happens
 * under the container's lock: it reads the exit record, removes the runtime's state and cgroup,
 * records the exit, and then either removes the container (--rm) or restarts it (policy).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, SyscallError } from '../common/index.ts';
import type { RuntimeConfig } from '../oci/index.ts';
import { processStartTime } from '../storage/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths, type ContainerPaths } from './container-paths.ts';
import type { RunSpec } from './container-spec.ts';
import { assertTransition } from './container-status.ts';
import type { ContainerRecord } from './container-store.ts';
import { hostsFile } from './container-etc.ts';
import { attachNetworks, detachNetworks } from './networks.ts';
import { mountVolumes, unmountVolumes } from './volumes.ts';
import { parseExposed } from '../network/index.ts';

/** What the monitor writes when the container's init ends. */
export interface ExitRecord {
  exitCode: number;
  signal: number;
  oomKilled: boolean;
  finishedAt: string;
}

export function readExitRecord(path: string): ExitRecord | undefined {
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as Partial<ExitRecord>;
    if (typeof doc.exitCode !== 'number') return undefined;
    return { exitCode: doc.exitCode, signal: doc.signal ?? 0, oomKilled: doc.oomKilled === true, finishedAt: doc.finishedAt ?? new Date().toISOString() };
  } catch {
    return undefined;
  }
}

/** Whether the container of this ID runs (its process is the one recorded). */
function isLiveId(ctx: EngineContext, id: string): boolean {
  const r = ctx.containers.get(id);
  return !!r && isActive(r) && observe(r) === 'live';
}

/** Whether `pid` is still the process that was recorded (a reused pid is not). */
export function isAlive(pid: number, start: string): boolean {
  return pid > 0 && start !== '' && processStartTime(pid) === start;
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

export const ACTIVE = ['running', 'paused', 'restarting'] as const;

export function isActive(rec: ContainerRecord): boolean {
  return (ACTIVE as readonly string[]).includes(rec.status);
}

/**
 * What a record of a running container is worth now: 'live' (its process runs), 'ending' (the
 * process ended and its monitor or exit command is finishing it), or 'lost' (both are gone:
 * nobody will finish it but us).
 */
export function observe(rec: ContainerRecord): 'live' | 'ending' | 'lost' {
  if (rec.status === 'restarting') return isAlive(rec.monitorPid, rec.monitorStart) ? 'ending' : 'lost';
  if (isAlive(rec.pid, rec.pidStart)) return 'live';
  return isAlive(rec.monitorPid, rec.monitorStart) ? 'ending' : 'lost';
}

/** The record as `ps` and `inspect` should show it: a container whose process is gone is exited. */
export function effectiveRecord(ctx: EngineContext, rec: ContainerRecord): ContainerRecord {
  if (!isActive(rec) || observe(rec) === 'live') return rec;
  if (rec.status === 'restarting' && observe(rec) === 'ending') return rec;
  const exit = readExitRecord(containerPaths(ctx.paths, rec.id).exitPath);
  return { ...rec, status: 'exited', pid: 0, exitCode: exit?.exitCode ?? rec.exitCode, oomKilled: exit?.oomKilled ?? false, finishedAt: exit?.finishedAt ?? rec.finishedAt };
}

/** docker's exit codes for a program that cannot be started: 127 not found, 126 not executable. */
export function startErrorExitCode(err: unknown): number {
  if (err instanceof SyscallError && (err.op === 'exec' || err.op === 'resolve-exec')) {
    if (err.errnoName === 'ENOENT' || err.errnoName === 'ENOTDIR') return 127;
    if (err.errnoName === 'EACCES' || err.errnoName === 'EPERM' || err.errnoName === 'ENOEXEC') return 126;
  }
  return 128;
}

export interface StartOptions {
  /** Runs once the container exists and before its program does: attach here, nothing is missed. */
  beforeStart?: (paths: ContainerPaths, rec: ContainerRecord) => Promise<void>;
  /** The pty's first size (rows, columns) for a terminal container. */
  consoleSize?: { rows: number; cols: number };
}

/** Starts a created or exited container; the caller holds its lock. */
/** What the container's monitor is told: where its log, attach socket and exit record go, and
 * the exit command that finishes the container. */
export function monitorOptions(ctx: EngineContext, spec: RunSpec, paths: ContainerPaths, id: string) {
  return {
    logPath: spec.logDriver === 'none' ? '' : paths.logPath,
    logMaxSize: spec.logMaxSize ?? 0,
    logMaxFiles: spec.logMaxFiles ?? 1,
    attachPath: paths.attachPath,
    exitPath: paths.exitPath,
    stdinOpen: spec.interactive === true,
    exitCommand: [...ctx.cleanupCommand, id],
  };
}

export async function startLocked(ctx: EngineContext, rec: ContainerRecord, opts: StartOptions = {}): Promise<ContainerRecord> {
  assertTransition('start', rec.status, rec.id);
  const paths = containerPaths(ctx.paths, rec.id);
  const runtime = ctx.runtime();
  // what a previous run left: its runtime state (cgroup) and exit record
  if (rec.startedAt) {
    await runtime.delete(rec.id, { force: true }).catch(ignoreNotFound);
    await rm(paths.exitPath, { force: true });
  }
  await mkdir(ctx.paths.attachDir, { recursive: true, mode: 0o700 });
  const config = JSON.parse(await readFile(paths.configPath, 'utf8')) as RuntimeConfig;
  if (opts.consoleSize && config.process?.terminal) config.process.consoleSize = { height: opts.consoleSize.rows, width: opts.consoleSize.cols };
  const spec = rec.spec;
  // what a previous run (or a killed command) left of its networking
  await detachNetworks(ctx, rec.id);
  // the volumes of --opt: mounted (once for all their users) before the container sees them
  mountVolumes(ctx, rec);
  let pid: number;
  try {
    const ownUserns = (config.linux?.namespaces ?? []).some((n) => n.type === 'user' && !n.path);
    const net = await attachNetworks(ctx, rec, parseExposed(Object.keys((rec.config.ExposedPorts as Record<string, unknown> | undefined) ?? {})), { later: ownUserns });
    try {
      if (net.netnsPath || net.plumb) {
        const namespaces = (config.linux!.namespaces ??= []).filter((n) => n.type !== 'network');
        config.linux!.namespaces = [...namespaces, net.netnsPath ? { type: 'network', path: net.netnsPath } : { type: 'network' }];
        const hostname = (rec.config.Hostname as string | undefined) ?? '';
        const domainname = (rec.config.Domainname as string | undefined) ?? '';
        const gateway = ctx.networks.endpointsOf(rec.id).map((e) => ctx.networks.get(e.networkId)?.gateway).find(Boolean);
        await writeFile(paths.hostsPath, hostsFile({
          ...(spec.addHosts ? { addHosts: spec.addHosts } : {}),
          ...(gateway ? { hostGateway: gateway } : {}),
          own: { ip: net.primaryIp, hostname, ...(domainname ? { domainname } : {}) },
        }));
      }
      ({ pid } = await runtime.create(rec.id, {
        bundleDir: paths.dir,
        config,
        monitor: monitorOptions(ctx, spec, paths, rec.id),
      }));
      if (net.plumb) {
        try {
          net.plumb(`/proc/${pid}/ns/net`);
        } catch (err) {
          await runtime.delete(rec.id, { force: true }).catch(ignoreNotFound);
          throw err;
        }
      }
    } finally {
      net.release();
    }
  } catch (err) {
    await detachNetworks(ctx, rec.id).catch(() => {});
    try {
      unmountVolumes(ctx, rec.id, (id) => isLiveId(ctx, id));
    } catch {
      // left for system check
    }
    ctx.containers.update(rec.id, { exitCode: startErrorExitCode(err), error: err instanceof Error ? err.message : String(err) });
    throw err;
  }
  const monitorPid = parentOf(pid);
  const fields = {
    status: 'running' as const,
    pid,
    pidStart: processStartTime(pid) ?? '',
    monitorPid,
    monitorStart: processStartTime(monitorPid) ?? '',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    exitCode: 0,
    oomKilled: false,
    error: '',
    stoppedByUser: false,
  };
  try {
    if (opts.beforeStart) await opts.beforeStart(paths, { ...rec, ...fields });
    await runtime.start(rec.id);
  } catch (err) {
    await runtime.delete(rec.id, { force: true }).catch(ignoreNotFound);
    await detachNetworks(ctx, rec.id).catch(() => {});
    ctx.containers.update(rec.id, { exitCode: startErrorExitCode(err), error: err instanceof Error ? err.message : String(err) });
    throw err;
  }
  ctx.db.transaction(() => {
    ctx.containers.update(rec.id, fields);
    ctx.containers.event('container', 'start', rec.id, { name: rec.name, image: rec.imageRef });
  });
  return { ...rec, ...fields };
}

export function ignoreNotFound(err: unknown): void {
  if (err instanceof BerthError && err.code === 'NOT_FOUND') return;
  throw err;
}

/**
 * Records the end of a container whose process is gone (the caller holds its lock): the exit
 * record, and the runtime's state and cgroup removed. A container already finished is returned
 * as it is.
 */
export async function finishLocked(ctx: EngineContext, rec: ContainerRecord): Promise<ContainerRecord> {
  if (!isActive(rec)) return rec;
  if (rec.status !== 'restarting' && isAlive(rec.pid, rec.pidStart)) {
    throw new BerthError('INTERNAL', `container ${rec.id.slice(0, 12)} is still running: it cannot be finished`);
  }
  const paths = containerPaths(ctx.paths, rec.id);
  const exit = readExitRecord(paths.exitPath);
  await ctx.runtime().delete(rec.id, { force: true }).catch(ignoreNotFound);
  // its processes are gone, and with them its network namespace and the veths in it (unless
  // a container that joined it, --network container:X, still holds it)
  const joined = ctx.containers.list().some((c) => c.id !== rec.id && c.spec.network?.startsWith('container:') && isActive(c));
  await detachNetworks(ctx, rec.id, { namespaceGone: !joined });
  unmountVolumes(ctx, rec.id, (id) => isLiveId(ctx, id));
  const fields = {
    status: 'exited' as const,
    pid: 0,
    pidStart: '',
    monitorPid: 0,
    monitorStart: '',
    finishedAt: exit?.finishedAt ?? new Date().toISOString(),
    exitCode: rec.status === 'restarting' ? rec.exitCode : (exit?.exitCode ?? 255),
    oomKilled: exit?.oomKilled ?? false,
    error: exit || rec.status === 'restarting' ? rec.error : 'the container\'s monitor was killed: its exit status is unknown',
  };
  ctx.db.transaction(() => {
    ctx.containers.update(rec.id, fields);
    if (rec.status !== 'restarting') {
      if (fields.oomKilled) ctx.containers.event('container', 'oom', rec.id, { name: rec.name, image: rec.imageRef });
      ctx.containers.event('container', 'die', rec.id, { name: rec.name, image: rec.imageRef, exitCode: String(fields.exitCode) });
    }
  });
  return { ...rec, ...fields };
}

/**
 * Waits (without the lock) until a container whose process ended is finished by whoever
 * finishes it, then returns the fresh record; finishes it itself when nobody else will.
 */
export async function settle(ctx: EngineContext, id: string, timeoutMs = 10_000): Promise<ContainerRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const rec = ctx.containers.get(id);
    if (!rec || !isActive(rec)) return rec;
    const seen = observe(rec);
    if (seen === 'live' || (seen === 'ending' && rec.status === 'restarting')) return rec;
    // timeout 0 (a foreground run, told the exit on its attach socket): at once, no poll
    if (seen === 'lost' || Date.now() >= deadline) {
      const release = await ctx.containers.lock(id, 'finish');
      try {
        const fresh = ctx.containers.get(id);
        return fresh && isActive(fresh) && observe(fresh) !== 'live' ? await finishLocked(ctx, fresh) : fresh;
      } finally {
        release();
      }
    }
    await sleep(delay);
  }
}

/** docker's restart back-off: 100 ms, doubling, at most a minute; back to 100 ms after a run of 10 s. */
export function restartDelayMs(restartCount: number, ranMs: number): number {
  if (ranMs >= 10_000) return 100;
  return Math.min(100 * 2 ** restartCount, 60_000);
}

/** Whether the policy brings the container back after this exit. */
export function shouldRestart(rec: ContainerRecord): boolean {
  const policy = rec.spec.restart ?? { name: 'no' };
  if (rec.stoppedByUser || rec.spec.autoRemove) return false;
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return rec.exitCode !== 0 && (policy.maxRetries === 0 || rec.restartCount < policy.maxRetries);
    default:
      return false;
  }
}
