/**
 * Volumes, docker's `local` driver with no daemon: a volume is a directory of berth's
 * (`<root>/volumes/<name>/_data`) bound into containers, or, with `--opt type=…`, what the
 * driver mounts there (a tmpfs, a bind of a host directory, any filesystem the kernel has) while
 * a running container uses it.
 *
 * Copy-up: an empty volume mounted where the image has content gets that content (files,
 * modes, owners, xattrs) when the container is created, unless `volume-nocopy`. The image's
 * merged layers are mounted read-only (a lower-only overlay) in a private directory, the path is
 * resolved inside that root (openat2 RESOLVE_IN_ROOT: a symlink of the image never leads out),
 * and `cp -a` copies from the resolved directory's fd, never following a symlink.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { BerthError, randomBytesSync } from '../common/index.ts';
import type { EngineContext } from './container-context.ts';
import type { IdMapping } from '../oci/index.ts';
import { dirSize } from './dir-size.ts';
import type { ContainerRecord } from './container-store.ts';
import { checkVolumeName, type VolumeRecord, type VolumeSpec, type VolumeUse } from './volume-store.ts';

export type { VolumeSpec } from './volume-store.ts';

const OPTION_KEYS = ['type', 'o', 'device'];

export function volumesDir(ctx: EngineContext): string {
  return join(ctx.root, 'volumes');
}

export function volumeData(ctx: EngineContext, name: string): string {
  return join(volumesDir(ctx), name, '_data');
}

function newName(): string {
  return randomBytesSync(32).toString('hex');
}

function checkOptions(options: Record<string, string>): void {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw new BerthError('INVALID_ARGUMENT', `invalid option key: ${JSON.stringify(key)} (the local driver knows type, o and device)`);
  }
  if (Object.keys(options).length && !options.type) throw new BerthError('INVALID_ARGUMENT', 'missing required option: "type"');
  if (options.type && !options.device && options.type !== 'tmpfs') throw new BerthError('INVALID_ARGUMENT', 'missing required option: "device"');
  if (options.type === 'none' && options.device && !isAbsolute(options.device)) throw new BerthError('INVALID_ARGUMENT', `device ${options.device}: a bind needs an absolute host path`);
  for (const [k, v] of Object.entries(options)) if (/[\0\n]/.test(v)) throw new BerthError('INVALID_ARGUMENT', `option ${k}: a NUL or newline is not allowed`);
}

/** The record of a volume made now (in a transaction of the caller's, or its own). */
export function createVolume(ctx: EngineContext, opts: { name?: string; driver?: string; options?: Record<string, string>; labels?: Record<string, string>; anonymous?: boolean } = {}): VolumeRecord {
  const name = opts.name === undefined || opts.name === '' ? newName() : checkVolumeName(opts.name);
  const driver = opts.driver ?? 'local';
  if (driver !== 'local') throw new BerthError('NOT_FOUND', `error looking up volume plugin ${driver}: plugin "${driver}" not found (berth has the local driver)`);
  const options = opts.options ?? {};
  checkOptions(options);
  const rec = ctx.db.transaction(() => {
    const existing = ctx.volumes.get(name);
    if (existing) {
      // docker: creating a volume that exists with the same driver returns it
      if (Object.keys(options).length && JSON.stringify(existing.options) !== JSON.stringify(options)) {
        throw new BerthError('CONFLICT', `volume ${name} already exists with other options`);
      }
      return existing;
    }
    const v: VolumeRecord = { name, driver, options, labels: opts.labels ?? {}, anonymous: opts.anonymous === true, createdAt: new Date().toISOString() };
    ctx.volumes.insert(v);
    ctx.containers.event('volume', 'create', name, { driver });
    return v;
  });
  mkdirSync(volumesDir(ctx), { recursive: true, mode: 0o700 });
  mkdirSync(volumeData(ctx, name), { recursive: true, mode: 0o755 });
  return rec;
}

function mountedAt(path: string): boolean {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => unescape(l.split(' ')[4] ?? '') === path);
}

function umount(path: string): void {
  const r = spawnSync('umount', [path], { encoding: 'utf8' });
  if (r.status !== 0 && mountedAt(path)) throw new BerthError('CONFLICT', `cannot unmount ${path}: ${(r.stderr ?? '').trim()}`);
}

export function removeVolume(ctx: EngineContext, name: string, opts: { force?: boolean } = {}): void {
  ctx.db.transaction(() => {
    const v = ctx.volumes.resolve(name);
    const users = ctx.volumes.usersOf(v.name);
    if (users.length && !opts.force) {
      throw new BerthError('CONFLICT', `remove ${v.name}: volume is in use - [${[...new Set(users.map((u) => u.containerId))].join(', ')}]`);
    }
    if (users.length) {
      const running = users.map((u) => ctx.containers.get(u.containerId)).filter((c) => c && (c.status === 'running' || c.status === 'paused'));
      if (running.length) throw new BerthError('CONFLICT', `remove ${v.name}: volume is in use by running container ${running[0]!.name}: stop it first`);
      ctx.db.run('DELETE FROM container_volumes WHERE volume = ?', v.name);
    }
    const data = volumeData(ctx, v.name);
    if (existsSync(data) && mountedAt(data)) umount(data);
    ctx.volumes.remove(v.name);
    ctx.containers.event('volume', 'destroy', v.name, { driver: v.driver });
  });
  rmSync(join(volumesDir(ctx), name), { recursive: true, force: true });
}

export function inspectVolume(ctx: EngineContext, v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: volumeData(ctx, v.name),
    Name: v.name,
    Options: Object.keys(v.options).length ? v.options : null,
    Scope: 'local',
  };
}

/** Volumes no container uses: anonymous ones, or all with `all` (docker 23's prune). */
export async function pruneVolumes(ctx: EngineContext, opts: { all?: boolean; keep?: (v: VolumeRecord) => boolean } = {}): Promise<{ removed: string[]; reclaimed: number }> {
  const removed: string[] = [];
  let reclaimed = 0;
  for (const v of ctx.volumes.list()) {
    if (!opts.all && !v.anonymous) continue;
    if (opts.keep?.(v)) continue;
    if (ctx.volumes.usersOf(v.name).length) continue;
    const size = await dirSize(volumeData(ctx, v.name));
    try {
      removeVolume(ctx, v.name);
      removed.push(v.name);
      reclaimed += size;
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'CONFLICT')) throw err;
    }
  }
  return { removed, reclaimed };
}

/** A volume mount a container is created with: the volume (made if missing) and where it goes. */
export interface PlannedVolume {
  name: string;
  anonymous: boolean;
  target: string;
  readOnly: boolean;
  noCopy: boolean;
  driverOpts: Record<string, string>;
}

/**
 * The volumes of a run: those asked for, every VOLUME of the image no other mount covers (an
 * anonymous volume each), and --volumes-from's. Checked; nothing made.
 */
export function planVolumes(ctx: EngineContext, asked: readonly VolumeSpec[], imageVolumes: readonly string[], otherTargets: readonly string[], volumesFrom: readonly string[]): { volumes: PlannedVolume[]; binds: { source: string; target: string; readOnly: boolean }[] } {
  const out: PlannedVolume[] = [];
  const binds: { source: string; target: string; readOnly: boolean }[] = [];
  const norm = (t: string) => normalize(t).replace(/\/+$/, '') || '/';
  const taken = new Set(otherTargets.map(norm));
  for (const v of asked) {
    if (v.name !== undefined) checkVolumeName(v.name);
    if (v.driverOpts) checkOptions(v.driverOpts);
    const existing = v.name ? ctx.volumes.get(v.name) : undefined;
    out.push({ name: v.name ?? newName(), anonymous: v.name === undefined, target: v.target, readOnly: v.readOnly, noCopy: v.noCopy === true, driverOpts: existing ? existing.options : (v.driverOpts ?? {}) });
    taken.add(norm(v.target));
  }
  for (const ref of volumesFrom) {
    const colon = ref.lastIndexOf(':');
    const [name, mode] = colon > 0 && ['ro', 'rw'].includes(ref.slice(colon + 1)) ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, ''];
    const other = ctx.containers.resolve(name);
    for (const use of ctx.volumes.usesOf(other.id)) {
      if (taken.has(norm(use.destination))) continue;
      const v = ctx.volumes.get(use.volume);
      out.push({ name: use.volume, anonymous: false, target: use.destination, readOnly: mode ? mode === 'ro' : use.readOnly, noCopy: true, driverOpts: v?.options ?? {} });
      taken.add(norm(use.destination));
    }
    for (const b of other.spec.binds ?? []) {
      if (taken.has(norm(b.target))) continue;
      binds.push({ source: b.source, target: b.target, readOnly: mode ? mode === 'ro' : b.readOnly });
      taken.add(norm(b.target));
    }
  }
  for (const target of imageVolumes) {
    if (taken.has(norm(target))) continue;
    out.push({ name: newName(), anonymous: true, target, readOnly: false, noCopy: false, driverOpts: {} });
    taken.add(norm(target));
  }
  return { volumes: out, binds };
}

/** Records the volumes (made when missing) and the container's use of them: in the create transaction. */
export function recordVolumes(ctx: EngineContext, containerId: string, volumes: readonly PlannedVolume[]): void {
  for (const v of volumes) {
    if (!ctx.volumes.get(v.name)) {
      ctx.volumes.insert({ name: v.name, driver: 'local', options: v.driverOpts, labels: {}, anonymous: v.anonymous, createdAt: new Date().toISOString() });
      ctx.containers.event('volume', 'create', v.name, { driver: 'local' });
    }
    ctx.volumes.addUse({ containerId, volume: v.name, destination: v.target, readOnly: v.readOnly });
  }
}

function isEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

/**
 * Makes the volumes' directories and fills each new, empty one from the image (copy-up). The
 * image's layers are mounted read-only in a private directory only while this runs.
 */
export async function prepareVolumes(ctx: EngineContext, volumes: readonly PlannedVolume[], lowerDirs: readonly string[], maps?: { uid: readonly IdMapping[]; gid: readonly IdMapping[] }): Promise<void> {
  mkdirSync(volumesDir(ctx), { recursive: true, mode: 0o700 });
  const copies: PlannedVolume[] = [];
  const fresh: string[] = [];
  for (const v of volumes) {
    const data = volumeData(ctx, v.name);
    mkdirSync(data, { recursive: true, mode: 0o755 });
    if (!Object.keys(v.driverOpts).length && isEmptyDir(data)) fresh.push(data);
    // a volume of --opt is filled by what is mounted there, not from the image
    if (!v.noCopy && !Object.keys(v.driverOpts).length && isEmptyDir(data) && lowerDirs.length) copies.push(v);
  }
  try {
    await copyUp(ctx, copies, lowerDirs);
  } finally {
    // a user-namespaced container owns what it finds in a new volume, as with docker's remapping:
    // the image's ids (and root for an empty one) become the container's host ids
    if (maps?.uid.length) for (const data of fresh) shiftOwners(data, maps);
  }
}

/** The host id of a container id under `maps` (undefined: not mapped). */
function toHost(maps: readonly IdMapping[], id: number): number | undefined {
  const m = maps.find((x) => id >= x.containerID && id < x.containerID + x.size);
  return m ? m.hostID + (id - m.containerID) : undefined;
}

/** lchowns every entry under `dir` (never following a link) from container ids to host ids. */
function shiftOwners(dir: string, maps: { uid: readonly IdMapping[]; gid: readonly IdMapping[] }): void {
  const visit = (path: string) => {
    const st = lstatSync(path);
    const uid = toHost(maps.uid, st.uid) ?? st.uid;
    const gid = toHost(maps.gid.length ? maps.gid : maps.uid, st.gid) ?? st.gid;
    if (uid !== st.uid || gid !== st.gid) {
      lchownSync(path, uid, gid);
      // chown clears set-id bits: give them back (never on a symlink)
      if (!st.isSymbolicLink() && st.mode & 0o6000) chmodSync(path, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
}

/** Fills each volume from the image (copy-up). */
async function copyUp(ctx: EngineContext, copies: readonly PlannedVolume[], lowerDirs: readonly string[]): Promise<void> {
  if (!copies.length) return;
  // one layer is the image as it is; more are merged by a lower-only overlay, which is read-only
  let mnt = lowerDirs[0]!;
  let mounted = false;
  if (lowerDirs.length > 1) {
    mkdirSync(ctx.tmpDir, { recursive: true, mode: 0o700 });
    mnt = mkdtempSync(join(ctx.tmpDir, 'copyup-'));
    const lower = lowerDirs.join(':');
    if (lower.includes(',')) throw new BerthError('INTERNAL', 'a layer path contains a comma');
    const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}`, mnt], { encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(mnt, { recursive: true, force: true });
      throw new BerthError('INTERNAL', `cannot mount the image to fill its volumes: ${(r.stderr ?? '').trim()}`);
    }
    mounted = true;
  }
  try {
    const sys = await import('../native/sys.ts');
    const root = sys.openat2(-100, mnt, { flags: 0o200000 /* O_DIRECTORY */ | 0o10000000 /* O_PATH */ });
    try {
      for (const v of copies) {
        let src: number;
        try {
          // inside the image's root: `..`, absolute paths and symlinks never lead out of it
          src = sys.openat2(root, v.target, { flags: 0o200000 | 0o10000000, resolve: sys.RESOLVE_IN_ROOT | sys.RESOLVE_NO_MAGICLINKS });
        } catch (err) {
          if (sys.isSyscallErrno(err, 'ENOENT', 'ENOTDIR')) continue; // nothing there in the image
          throw err;
        }
        try {
          const cp = spawnSync('cp', ['-a', '--no-target-directory', '/proc/self/fd/3/.', volumeData(ctx, v.name)], { stdio: ['ignore', 'ignore', 'pipe', src], encoding: 'utf8' });
          if (cp.status !== 0) throw new BerthError('INTERNAL', `cannot fill volume ${v.name} from the image's ${v.target}: ${(cp.stderr ?? '').trim()}`);
        } finally {
          closeSync(src);
        }
      }
    } finally {
      closeSync(root);
    }
  } finally {
    if (mounted) {
      umount(mnt);
      rmSync(mnt, { recursive: true, force: true });
    }
  }
}

/** Mounts what the volumes of --opt mount (a tmpfs, a device, a bind), once for all its users. */
export function mountVolumes(ctx: EngineContext, rec: ContainerRecord): void {
  for (const use of ctx.volumes.usesOf(rec.id)) {
    const v = ctx.volumes.get(use.volume);
    if (!v?.options.type) continue;
    const data = volumeData(ctx, v.name);
    mkdirSync(data, { recursive: true, mode: 0o755 });
    if (mountedAt(data)) continue;
    const o = v.options.o ?? '';
    const args = v.options.type === 'none'
      ? ['--bind', ...(o ? ['-o', o.split(',').filter((x) => x !== 'bind' && x !== 'rbind').join(',') || 'defaults'] : []), v.options.device!, data]
      : ['-t', v.options.type, ...(o ? ['-o', o] : []), v.options.device ?? v.options.type, data];
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new BerthError('FAILED_PRECONDITION', `error while mounting volume '${data}': ${(r.stderr ?? '').trim() || `mount exited ${r.status}`}`);
  }
}

/** Unmounts the --opt volumes of a container that no other running container uses. */
export function unmountVolumes(ctx: EngineContext, containerId: string, isRunning: (id: string) => boolean): void {
  for (const use of ctx.volumes.usesOf(containerId)) {
    const v = ctx.volumes.get(use.volume);
    if (!v?.options.type) continue;
    if (ctx.volumes.usersOf(v.name).some((u) => u.containerId !== containerId && isRunning(u.containerId))) continue;
    const data = volumeData(ctx, v.name);
    if (mountedAt(data)) umount(data);
  }
}

/** The anonymous volumes only this container uses (what `rm -v` and `--rm` remove). */
export function anonymousVolumesOf(ctx: EngineContext, containerId: string): string[] {
  return ctx.volumes.usesOf(containerId)
    .map((u: VolumeUse) => ctx.volumes.get(u.volume))
    .filter((v): v is VolumeRecord => !!v && v.anonymous && ctx.volumes.usersOf(v.name).every((u) => u.containerId === containerId))
    .map((v) => v.name);
}

/** Leftover copy-up mounts of a killed command (`system check`). */
export function copyUpLeftovers(ctx: EngineContext): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4] ?? '';
    if (point.startsWith(join(ctx.tmpDir, 'copyup-'))) {
      umount(point);
      rmSync(point, { recursive: true, force: true });
      out.push(point);
    }
  }
  return out;
}
