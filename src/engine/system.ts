/**
 * The engine as a whole: `system check` (finds what killed commands and monitors left and
 * repairs it), `system boot` (brings back restart-policy containers after a reboot),
 * `system df`, `info`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, totalmem, release } from 'node:os';
import { BerthError } from '../common/index.ts';
import { detectCgroupLayout } from '../cgroups/index.ts';
import { processStartTime } from '../storage/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths } from './container-paths.ts';
import { effectiveRecord, finishLocked, ignoreNotFound, isActive, observe, settle } from './container-lifecycle.ts';
import { dirSize, removeLocked, startContainer, withLock } from './container-verbs.ts';
import { collectLeftovers } from './image-gc.ts';
import { checkNetworks } from './networks.ts';
import { copyUpLeftovers, unmountVolumes, volumeData } from './volumes.ts';
import { stopLimitsView, viewMounts, viewOff, viewPaths, viewServes, withoutLimitsView } from '../runtime/index.ts';

const ID_RE = /^[0-9a-f]{64}$/;

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Container IDs with a cgroup under this root's parent (`/berth/<id>` in every hierarchy). */
async function cgroupIds(parent: string): Promise<Set<string>> {
  const out = new Set<string>();
  let layout;
  try {
    layout = await detectCgroupLayout();
  } catch {
    return out;
  }
  const dirs = [...layout.v1Mounts.values(), ...(layout.v2Dir ? [layout.v2Dir] : [])];
  for (const dir of new Set(dirs)) for (const name of listDir(join(dir, parent))) if (ID_RE.test(name)) out.add(name);
  return out;
}

export interface CheckResult {
  /** What was found wrong and repaired, one line each. */
  repaired: string[];
  /** What was found wrong and could not be repaired. */
  problems: string[];
}

/** Whether a live berth process holds the container's lock (a create or verb under way). */
function isBusy(ctx: EngineContext, id: string): boolean {
  const row = ctx.db.get<{ busy_pid: number | null; busy_start: string | null }>('SELECT busy_pid, busy_start FROM containers WHERE id = ?', id);
  return !!row && row.busy_pid !== null && row.busy_pid !== process.pid && processStartTime(row.busy_pid) === row.busy_start;
}

/**
 * Limits views (a killed view of a running container; a view's mount whose container ended):
 * a running container whose view no longer answers reads the kernel's files again (its binds are
 * unmounted inside it, nothing of the container's runs), and a mount of no running container goes.
 */
async function checkLimitsViews(ctx: EngineContext): Promise<string[]> {
  const done: string[] = [];
  const store = ctx.runtime().ctx.store;
  const running = new Set<string>();
  for (const rec of ctx.containers.list()) {
    if (isBusy(ctx, rec.id) || !isActive(rec) || observe(rec) === 'lost') continue;
    running.add(rec.id);
    const state = await store.read(rec.id).catch(() => undefined);
    if (!state?.view || state.pid <= 0 || viewServes(state.view)) continue;
    viewOff(state.pid);
    stopLimitsView(state.view);
    // later execs get the kernel's sysinfo(2), and no listener to connect to
    await store.write({ ...state, config: withoutLimitsView(state.config, state.view), view: undefined });
    done.push(`container ${rec.id.slice(0, 12)} (${rec.name}): its limits view was gone; it reads the kernel's /proc files again`);
  }
  for (const point of viewMounts(ctx.paths.runtimeRoot)) {
    const id = point.slice(ctx.paths.runtimeRoot.length + 1).split('/')[0]!;
    if (running.has(id) || isBusy(ctx, id)) continue;
    stopLimitsView({ ...viewPaths(join(ctx.paths.runtimeRoot, id)), pid: 0, pidStartTime: '', sysinfo: false });
    done.push(`limits view of ${ctx.containers.get(id) ? 'an ended' : 'no'} container unmounted: ${point}`);
  }
  return done;
}

/**
 * Reconciles the records with the kernel and the disk, repairing what a killed command or
 * monitor left: containers whose process and monitor are gone (finished), half-created or
 * half-removed containers (removed), directories, runtime states, cgroups and attach sockets
 * of no container (removed), and the image store's leftovers.
 */
export async function checkSystem(ctx: EngineContext): Promise<CheckResult> {
  const repaired: string[] = [];
  const problems: string[] = [];
  const note = (what: string) => repaired.push(what);
  for (const rec of ctx.containers.list()) {
    if (isBusy(ctx, rec.id)) continue;
    const short = rec.id.slice(0, 12);
    try {
      if (isActive(rec) && observe(rec) === 'lost') {
        await settle(ctx, rec.id, 0);
        note(`container ${short} (${rec.name}): its process and its monitor are gone; recorded as exited`);
        const fresh = ctx.containers.get(rec.id);
        if (fresh?.spec.autoRemove && !isActive(fresh)) {
          await withLock(ctx, rec.id, 'check', (r) => removeLocked(ctx, r));
          note(`container ${short} (${rec.name}): removed (--rm)`);
        }
        continue;
      }
      const paths = containerPaths(ctx.paths, rec.id);
      if (rec.status === 'removing' || rec.status === 'dead') {
        await withLock(ctx, rec.id, 'check', async (r) => {
          const done = isActive(r) ? await finishLocked(ctx, r) : r;
          await removeLocked(ctx, done);
        });
        note(`container ${short} (${rec.name}): its removal had not finished; removed`);
        continue;
      }
      if (rec.status === 'created' && !existsSync(paths.configPath)) {
        await withLock(ctx, rec.id, 'check', (r) => removeLocked(ctx, r));
        note(`container ${short} (${rec.name}): its creation had not finished; removed`);
        continue;
      }
      if (!isActive(rec) && existsSync(join(ctx.paths.runtimeRoot, rec.id))) {
        await ctx.runtime().delete(rec.id, { force: true }).catch(ignoreNotFound);
        note(`container ${short} (${rec.name}): runtime state of an ended run removed`);
      }
    } catch (err) {
      problems.push(`container ${short} (${rec.name}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  try {
    for (const what of await checkLimitsViews(ctx)) note(what);
  } catch (err) {
    problems.push(`limits views: ${err instanceof Error ? err.message : String(err)}`);
  }
  const known = new Set(ctx.containers.list().map((r) => r.id));
  const orphan = (id: string) => ID_RE.test(id) && !known.has(id);
  for (const id of listDir(ctx.paths.containersDir).filter(orphan)) {
    await rm(join(ctx.paths.containersDir, id), { recursive: true, force: true });
    note(`directory of no container removed: ${join(ctx.paths.containersDir, id)}`);
  }
  for (const id of listDir(ctx.paths.runtimeRoot).filter(orphan)) {
    await ctx.runtime().delete(id, { force: true }).catch(ignoreNotFound);
    await rm(join(ctx.paths.runtimeRoot, id), { recursive: true, force: true });
    note(`runtime state of no container removed: ${id.slice(0, 12)}`);
  }
  for (const id of listDir(ctx.paths.attachDir).filter(orphan)) {
    await rm(join(ctx.paths.attachDir, id), { force: true });
    note(`attach socket of no container removed: ${id.slice(0, 12)}`);
  }
  for (const id of await cgroupIds(ctx.paths.cgroupParent)) {
    const rec = ctx.containers.get(id);
    if (rec && isActive(rec)) continue;
    if (rec && isBusy(ctx, id)) continue;
    try {
      await ctx.runtime().ctx.cgroups.destroy(`${ctx.paths.cgroupParent}/${id}`);
      note(`cgroup of ${rec ? 'an ended' : 'no'} container removed: ${ctx.paths.cgroupParent}/${id.slice(0, 12)}`);
    } catch (err) {
      problems.push(`cgroup ${ctx.paths.cgroupParent}/${id.slice(0, 12)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  try {
    // leases of containers that do not run (a command killed mid-start), idle bridges, the rules
    const running = (id: string) => {
      const r = ctx.containers.get(id);
      return !!r && (isBusy(ctx, id) || (isActive(r) && observe(r) !== 'lost'));
    };
    for (const what of await checkNetworks(ctx, running, true)) note(`${what}: released`);
  } catch (err) {
    problems.push(`networks: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    for (const m of copyUpLeftovers(ctx)) note(`image mount of a killed copy-up removed: ${m}`);
    // volumes of --opt still mounted with no running container to use them
    const live = (id: string) => {
      const r = ctx.containers.get(id);
      return !!r && (isBusy(ctx, id) || (isActive(r) && observe(r) !== 'lost'));
    };
    for (const rec of ctx.containers.list()) if (!live(rec.id)) unmountVolumes(ctx, rec.id, live);
  } catch (err) {
    problems.push(`volumes: ${err instanceof Error ? err.message : String(err)}`);
  }
  const images = await collectLeftovers(ctx);
  for (const l of images.removed) note(`leftover of a killed command removed: ${l.path}`);
  return { repaired, problems };
}

/**
 * After a reboot (or whenever run): containers whose restart policy brings them back and that
 * were running when the machine went down are started again (unless-stopped: not those the
 * user stopped).
 */
export async function bootSystem(ctx: EngineContext): Promise<{ started: string[]; failed: { id: string; error: string }[] }> {
  await checkSystem(ctx);
  const started: string[] = [];
  const failed: { id: string; error: string }[] = [];
  for (const rec of ctx.containers.list()) {
    const policy = rec.spec.restart?.name ?? 'no';
    if (policy === 'no' || isActive(rec)) continue;
    if (rec.stoppedByUser && policy !== 'always') continue;
    if (rec.stoppedByUser && policy === 'always' && rec.status === 'exited') continue;
    // exited by itself with on-failure and a zero code: it is done
    if (policy === 'on-failure' && rec.exitCode === 0 && rec.startedAt) continue;
    if (!rec.startedAt) continue; // never started: not ours to start
    try {
      await startContainer(ctx, rec.id);
      started.push(rec.id);
    } catch (err) {
      failed.push({ id: rec.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { started, failed };
}

export interface DiskUsage {
  images: { total: number; active: number; size: number; reclaimable: number };
  containers: { total: number; active: number; size: number; reclaimable: number };
  volumes: { total: number; active: number; size: number; reclaimable: number };
}

export async function diskUsage(ctx: EngineContext): Promise<DiskUsage> {
  const records = ctx.containers.list().map((r) => effectiveRecord(ctx, r));
  const usedImages = new Set(records.map((r) => r.imageId));
  const images = ctx.store.list();
  let imageSize = 0;
  let reclaimable = 0;
  for (const image of images) {
    imageSize += image.size;
    if (!usedImages.has(image.id)) reclaimable += image.size;
  }
  let containerSize = 0;
  let containerReclaimable = 0;
  for (const r of records) {
    const size = await dirSize(containerPaths(ctx.paths, r.id).upperDir);
    containerSize += size;
    if (!isActive(r)) containerReclaimable += size;
  }
  // a volume is active when a container (running or not) uses it, as docker counts
  const volumes = ctx.volumes.list();
  let volumeSize = 0;
  let volumeReclaimable = 0;
  let volumeActive = 0;
  for (const v of volumes) {
    const size = await dirSize(volumeData(ctx, v.name));
    volumeSize += size;
    if (ctx.volumes.usersOf(v.name).length) volumeActive++;
    else volumeReclaimable += size;
  }
  return {
    images: { total: images.length, active: images.filter((i) => usedImages.has(i.id)).length, size: imageSize, reclaimable },
    containers: { total: records.length, active: records.filter(isActive).length, size: containerSize, reclaimable: containerReclaimable },
    volumes: { total: volumes.length, active: volumeActive, size: volumeSize, reclaimable: volumeReclaimable },
  };
}

/** docker info's facts. */
export async function systemInfo(ctx: EngineContext): Promise<Record<string, unknown>> {
  const records = ctx.containers.list().map((r) => effectiveRecord(ctx, r));
  let cgroupVersion = '1';
  try {
    cgroupVersion = (await detectCgroupLayout()).kind === 'v2' ? '2' : '1';
  } catch {
    // no cgroupfs: reported as v1
  }
  let os = 'Linux';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // no os-release
  }
  return {
    ID: '',
    Containers: records.length,
    ContainersRunning: records.filter((r) => r.status === 'running' || r.status === 'restarting').length,
    ContainersPaused: records.filter((r) => r.status === 'paused').length,
    ContainersStopped: records.filter((r) => !isActive(r)).length,
    Images: ctx.store.list().length,
    Driver: 'overlay',
    DriverStatus: [['Backing Filesystem', backingFs(ctx.root)]],
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: cgroupVersion,
    KernelVersion: release(),
    OperatingSystem: os,
    OSType: 'linux',
    Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
    NCPU: cpus().length,
    MemTotal: totalmem(),
    DockerRootDir: ctx.root,
    Name: readHostname(),
    ServerVersion: '',
    SecurityOptions: ['name=seccomp,profile=builtin'],
    DefaultRuntime: 'berth-runtime',
    Runtimes: { 'berth-runtime': { path: 'berth-runtime (in-process)' } },
    Warnings: [],
  };
}

function readHostname(): string {
  try {
    return readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
  } catch {
    return '';
  }
}

function backingFs(root: string): string {
  try {
    statSync(root);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    let best = '';
    let fs = 'unknown';
    for (const line of mounts) {
      const [left, right] = line.split(' - ');
      const point = left?.split(' ')[4];
      if (point && (root === point || root.startsWith(point.endsWith('/') ? point : point + '/')) && point.length >= best.length) {
        best = point;
        fs = right?.split(' ')[0] ?? fs;
      }
    }
    return fs;
  } catch {
    return 'unknown';
  }
}

export function assertRoot(): void {
  if (process.getuid?.() !== 0) throw new BerthError('PERMISSION_DENIED', 'berth runs containers as root', { hint: 'run it with sudo' });
}

