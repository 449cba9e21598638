/**
 * `diff` and `export`: a container's filesystem read from its layer directories on the host
 * (its overlay upper dir over the image's layers), for running and stopped containers alike.
 * Nothing is mounted; storage/layer-walk.ts reads the directories without following any
 * symlink the container or its image planted. (berth mounts overlays without redirect_dir or
 * metacopy, so the upper dir holds whole files and directories under their own names.)
 */
import { writeTarStream, type TarWriteEntry } from '../image/index.ts';
import { deviceNumbers, readFileEntry, readLinkEntry, walkMerged, walkUpper, type WalkEntry } from '../storage/index.ts';
import type { IdMapping } from '../oci/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths } from './container-paths.ts';
import type { ContainerRecord } from './container-store.ts';

/** Host ids of a user-namespaced container's files back to the ids it sees (65534 when unmapped). */
export function idMapper(maps: IdMapping[] | undefined): (hostId: number) => number {
  if (!maps?.length) return (id) => id;
  return (id) => {
    const m = maps.find((x) => id >= x.hostID && id < x.hostID + x.size);
    return m ? id - m.hostID + m.containerID : 65534;
  };
}

/** How the ids of a container's upper dir (host ids) map to the ids it sees. */
export interface IdMappers {
  uid: (hostId: number) => number;
  gid: (hostId: number) => number;
}

const SAME_IDS: IdMappers = { uid: (id) => id, gid: (id) => id };

/** The id mappers of a container: its user namespace's maps, or none. */
export function containerIds(rec: ContainerRecord): IdMappers {
  const { uidMaps, gidMaps } = rec.spec;
  return uidMaps?.length ? { uid: idMapper(uidMaps), gid: idMapper(gidMaps?.length ? gidMaps : uidMaps) } : SAME_IDS;
}

export type ChangeKind = 'C' | 'A' | 'D';

/** One line of `docker diff`: its Kind is 0 (C), 1 (A) or 2 (D) in the API. */
export interface FsChange {
  kind: ChangeKind;
  /** Absolute, as the container sees it. */
  path: string;
}

/** The container's layer directories, top first: its upper dir, then the image's layers. */
export async function containerLayerDirs(ctx: EngineContext, rec: ContainerRecord): Promise<{ upperDir: string; lowerDirs: string[] }> {
  const upperDir = containerPaths(ctx.paths, rec.id).upperDir;
  const lowerDirs = rec.layers.length ? (await ctx.layers.lowerDirs(rec.layers)).lowerDirs : [];
  return { upperDir, lowerDirs };
}

/**
 * What the runtime itself puts in the upper dir: the mountpoints of the files and file systems
 * every container gets (docker keeps these in its "init" layer, under the container's, so its
 * diff and commit never show them). Only empty files and directories count.
 */
const MOUNTPOINTS = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab', 'proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue', 'dev/console', '.dockerenv']);

export function isMountpointArtifact(entry: WalkEntry): boolean {
  return MOUNTPOINTS.has(entry.path.toString('latin1')) && ((entry.kind === 'file' && entry.stat.size === 0) || entry.kind === 'dir');
}

/**
 * The changes of an upper dir over its lower layers, as docker's overlay driver reports them
 * (moby's archive.OverlayChanges), in its walk order (pre-order, names in byte order): a
 * whiteout is D; an entry the lower layers have is C, else A. A directory the lower layers
 * have is C when made opaque (deleted and made again) or when its owner or mode changed,
 * and otherwise only as the parent of a change (each parent once, before its children); the
 * runtime's own mountpoints are not changes.
 */
export function upperChanges(upperDir: string, lowerDirs: string[], ids: IdMappers = SAME_IDS): FsChange[] {
  const changes: FsChange[] = [];
  /** The directories above the current entry: their change, and whether it is listed yet. */
  const ancestors: Array<{ change: FsChange; isListed: boolean }> = [];
  for (const entry of walkUpper(upperDir, lowerDirs)) {
    const path = '/' + entry.path.toString();
    let depth = 0;
    for (const byte of entry.path) if (byte === 0x2f) depth++;
    ancestors.length = depth;
    let kind: ChangeKind;
    let isChange = true;
    if (entry.kind === 'whiteout') {
      kind = 'D';
    } else if (!entry.lower) {
      kind = 'A';
      if (isMountpointArtifact(entry)) isChange = false;
    } else {
      kind = 'C';
      const { stat, lower } = entry;
      if (entry.kind === 'dir' && lower.isDirectory() && !entry.isOpaque && stat.mode === lower.mode && ids.uid(stat.uid) === lower.uid && ids.gid(stat.gid) === lower.gid) isChange = false;
    }
    const change = { kind, path };
    if (isChange) {
      for (const a of ancestors) {
        if (a.isListed) continue;
        changes.push({ kind: a.change.kind === 'A' ? 'A' : 'C', path: a.change.path });
        a.isListed = true;
      }
      changes.push(change);
    }
    if (entry.kind === 'dir') ancestors.push({ change, isListed: isChange });
  }
  return changes;
}

export async function diffContainer(ctx: EngineContext, rec: ContainerRecord): Promise<FsChange[]> {
  const { upperDir, lowerDirs } = await containerLayerDirs(ctx, rec);
  return upperChanges(upperDir, lowerDirs, containerIds(rec));
}

/** The tar header fields of an entry (its name, type, owner, mode, time); undefined for sockets. */
export function tarEntryOf(entry: WalkEntry, name: Buffer = entry.path): TarWriteEntry | undefined {
  const { stat } = entry;
  const base = { name, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime: Math.floor(stat.mtimeMs / 1000) };
  switch (entry.kind) {
    case 'dir':
      return { ...base, type: 'dir' };
    case 'file':
      return { ...base, type: 'file', size: stat.size, body: readFileEntry(entry) };
    case 'symlink':
      return { ...base, type: 'symlink', linkname: readLinkEntry(entry) };
    case 'chardev':
    case 'blockdev':
    {
      const dev = deviceNumbers(stat);
      return { ...base, type: entry.kind, devmajor: dev.major, devminor: dev.minor };
    }
    case 'fifo':
      return { ...base, type: 'fifo' };
    default:
      return undefined; // sockets (as in docker's archives) and whiteouts have no entry of their own
  }
}

/**
 * Hard links: the second and later names of a file (same device and inode) become hard-link
 * entries to the first, as tar does (busybox's applets are one file under hundreds of names).
 */
export class HardLinks {
  readonly #first = new Map<string, Buffer>();

  /** The entry to write instead of `tarEntry` when `entry` is a further name of a file already written. */
  linkFor(entry: WalkEntry, tarEntry: TarWriteEntry): TarWriteEntry {
    if (entry.kind !== 'file' || entry.stat.nlink < 2) return tarEntry;
    const key = `${entry.stat.dev}:${entry.stat.ino}`;
    const first = this.#first.get(key);
    if (first === undefined) {
      this.#first.set(key, Buffer.from(tarEntry.name));
      return tarEntry;
    }
    const { body: _body, size: _size, ...rest } = tarEntry;
    return { ...rest, type: 'hardlink', linkname: first };
  }
}

/**
 * The merged filesystem of layer dirs (top first) as tar entries; `mapTopIds` gives the ids
 * the container sees to the top layer's files (a user-namespaced container writes its upper
 * dir with host ids).
 */
export function* mergedTarEntries(layerDirs: string[], mapTopIds: IdMappers = SAME_IDS): Generator<TarWriteEntry> {
  const links = new HardLinks();
  for (const entry of walkMerged(layerDirs)) {
    const tarEntry = tarEntryOf(entry);
    if (!tarEntry) continue;
    if (entry.layer === 0) {
      tarEntry.uid = mapTopIds.uid(entry.stat.uid);
      tarEntry.gid = mapTopIds.gid(entry.stat.gid);
    }
    yield links.linkFor(entry, tarEntry);
  }
}

/** `docker export`: the container's filesystem as it sees it, as a tar stream. */
export async function* exportContainer(ctx: EngineContext, rec: ContainerRecord): AsyncGenerator<Uint8Array> {
  const { upperDir, lowerDirs } = await containerLayerDirs(ctx, rec);
  yield* writeTarStream(mergedTarEntries([upperDir, ...lowerDirs], containerIds(rec)));
}
