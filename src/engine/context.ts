/**
 * The engine's image side, put together from one state root:
 *
 *   <root>/berth.db                 records (SQLite)
 *   <root>/content/blobs/sha256/…   manifests, configs, layer blobs
 *   <root>/storage/overlay/…        unpacked layers, by chain ID
 *   <root>/tmp/                     staging for load and import (same filesystem):
 *                                   `<verb>-<pid>-<start>-*`, named after their owner
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';
import { ContentStore } from '../image/index.ts';
import { LayerStore, ownerTag } from '../storage/index.ts';
import { Database, DATABASE_FILE, resolveRoot, type Migration } from './db.ts';
import { IMAGE_MIGRATIONS, ImageStore } from './image-store.ts';
import { LEASE_MIGRATIONS, Leases } from './leases.ts';
import { CONTAINER_MIGRATIONS, ContainerStore } from './container-store.ts';
import { NETWORK_MIGRATIONS } from './network-store.ts';
import { VOLUME_MIGRATIONS } from './volume-store.ts';

/** A container that keeps an image from being deleted. */
export interface ImageUser {
  containerId: string;
  isRunning: boolean;
}

export interface ImageContextOptions {
  /** State directory (default `$BERTH_ROOT` or /var/lib/berth). */
  root?: string;
  /** Which container uses an image, if any (the engine's containers plug in here). */
  isImageInUse?: (imageId: string) => ImageUser | undefined;
  /** Migrations of other domains, run with the image ones. */
  migrations?: readonly Migration[];
}

export interface ImageContext {
  root: string;
  db: Database;
  store: ImageStore;
  content: ContentStore;
  layers: LayerStore;
  leases: Leases;
  tmpDir: string;
  isImageInUse: (imageId: string) => ImageUser | undefined;
  /** Layers a container's overlay needs: garbage collection keeps them whatever the images say. */
  layersInUse: () => Set<string>;
}

export const ENGINE_MIGRATIONS: readonly Migration[] = [...LEASE_MIGRATIONS, ...IMAGE_MIGRATIONS, ...CONTAINER_MIGRATIONS, ...NETWORK_MIGRATIONS, ...VOLUME_MIGRATIONS];

/**
 * What the state root holds is root's alone: unpacked layers carry the images' set-id programs
 * and device nodes, the records carry containers' environments. Whatever mode a --root the user
 * made has, these go 0700 (the database 0600), so no other user of the host reaches them.
 */
function tightenRoot(root: string): void {
  for (const [name, mode] of [['storage', 0o700], ['content', 0o700], ['containers', 0o700], ['tmp', 0o700], [DATABASE_FILE, 0o600]] as const) {
    const path = join(root, name);
    try {
      if ((statSync(path).mode & 0o777) !== mode) chmodSync(path, mode);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      if (name !== DATABASE_FILE) mkdirSync(path, { recursive: true, mode });
    }
  }
}

export function openImageContext(opts: ImageContextOptions = {}): ImageContext {
  const root = resolveRoot(opts.root);
  const db = Database.open(root, [...ENGINE_MIGRATIONS, ...(opts.migrations ?? [])]);
  tightenRoot(root);
  const containers = new ContainerStore(db);
  return {
    root,
    db,
    store: new ImageStore(db),
    content: new ContentStore(join(root, 'content')),
    layers: new LayerStore(join(root, 'storage')),
    leases: new Leases(db),
    tmpDir: join(root, 'tmp'),
    isImageInUse: opts.isImageInUse ?? ((imageId) => containers.imageUser(imageId)),
    layersInUse: () => containers.layersInUse(),
  };
}

/**
 * A fresh private directory `<root>/tmp/<prefix>-<owner>-*`, removed after `fn`; should this
 * process be killed meanwhile, the next garbage collection removes it (image-gc.ts).
 */
export async function withTempDir<T>(ctx: ImageContext, prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  if (!/^[a-z]+$/.test(prefix)) throw new BerthError('INTERNAL', `temp dir prefix ${JSON.stringify(prefix)} must be lowercase letters`);
  await mkdir(ctx.tmpDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(ctx.tmpDir, `${prefix}-${ownerTag()}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
