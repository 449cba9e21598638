/**
 * `load` (an image archive) and `import` (a rootfs tarball): both stage what they read
 * under <root>/tmp, store blobs, unpack layers and record the images in one transaction,
 * under a write lease. A failure records nothing and collects what it stored.
 */
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { importRootfs, resolveArchive, stageArchive, storeArchiveImage, type ArchiveImage } from '../image/index.ts';
import { hostPlatform, parseReference, type Platform } from '../image/index.ts';
import type { ChunkSource } from '../storage/index.ts';
import { withTempDir, type ImageContext } from './context.ts';
import type { NewImage } from './image-store.ts';
import { newImageRecord, unpackImageLayers, type LayerProgress } from './image-commit.ts';
import { collectGarbage } from './image-gc.ts';

export interface LoadedImage {
  id: string;
  /** Canonical `name:tag` references now pointing at the image. */
  names: string[];
}

export interface LoadOptions {
  /** For archives with multi-platform indexes: which platform to load (default this machine's). */
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (event: LayerProgress) => void;
}

export interface ImportImageOptions {
  /** `name[:tag]` to give the image. */
  imageRef?: string;
  /** Dockerfile instructions: `CMD ["sh"]`, `ENV k=v`, `WORKDIR /x`, … */
  changes?: string[];
  message?: string;
  /** Where the tarball came from, for the history (a path, or `-`). */
  source?: string;
  platform?: Platform;
  /** Creation time (default: `$SOURCE_DATE_EPOCH` if set, else now). */
  created?: Date;
  signal?: AbortSignal;
}

/**
 * Run `fn` under a write lease, then collect garbage: what `fn` left unreferenced when it
 * failed, and what killed commands left (see image-gc.ts). A failure to collect is the next
 * collection's to retry, not this command's.
 */
export async function underWriteLease<T>(ctx: ImageContext, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const lease = await ctx.leases.acquireWrite(signal);
  try {
    return await fn();
  } finally {
    lease.release();
    await collectGarbage(ctx).catch(() => undefined);
  }
}

async function commitImages(ctx: ImageContext, images: ArchiveImage[], opts: { signal?: AbortSignal; onProgress?: (event: LayerProgress) => void }): Promise<LoadedImage[]> {
  const records: Array<{ image: ArchiveImage; record: NewImage }> = [];
  for (const image of images) {
    await storeArchiveImage(image, ctx.content);
    records.push({ image, record: newImageRecord(image, await unpackImageLayers(ctx, image, opts)) });
  }
  return ctx.db.transaction(() =>
    records.map(({ image, record }) => {
      ctx.store.add(record, { names: image.names });
      return { id: record.id, names: image.names };
    }),
  );
}

/** Load the images of a docker-archive / OCI layout tar. */
export async function loadImages(ctx: ImageContext, input: ChunkSource, opts: LoadOptions = {}): Promise<LoadedImage[]> {
  return underWriteLease(ctx, opts.signal, () =>
    withTempDir(ctx, 'load', async (stagingDir) => {
      const staged = await stageArchive(input, { content: ctx.content, stagingDir, ...(opts.signal ? { signal: opts.signal } : {}) });
      const images = await resolveArchive(staged, ctx.content, opts.platform ? { platform: opts.platform } : {});
      return commitImages(ctx, images, opts);
    }),
  );
}

function defaultCreated(): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date();
}

/** Make a one-layer image from a rootfs tarball. */
export async function importImage(ctx: ImageContext, input: ChunkSource, opts: ImportImageOptions = {}): Promise<LoadedImage> {
  const names: string[] = [];
  if (opts.imageRef) {
    const ref = parseReference(opts.imageRef);
    if (ref.digest) throw new BerthError('INVALID_ARGUMENT', `cannot import as ${JSON.stringify(opts.imageRef)}: a digest cannot be given, only a tag`);
    names.push(`${ref.name}:${ref.tag}`);
  }
  return underWriteLease(ctx, opts.signal, () =>
    withTempDir(ctx, 'import', async (dir) => {
      const image = await importRootfs(input, {
        content: ctx.content,
        stagingPath: join(dir, 'layer.tar'),
        platform: opts.platform ?? hostPlatform(),
        source: opts.source ?? '-',
        created: opts.created ?? defaultCreated(),
        ...(opts.changes ? { changes: opts.changes } : {}),
        ...(opts.message !== undefined ? { message: opts.message } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      image.names.push(...names);
      const [loaded] = await commitImages(ctx, [image], opts.signal ? { signal: opts.signal } : {});
      return loaded!;
    }),
  );
}
