/**
 * `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image. The
 * layer is stored uncompressed (its digest is its diff ID), the config gets the platform,
 * the creation time, a history entry and the `--change` instructions, and a manifest is
 * written so the image can be saved and pushed like any other.
 */
import { writeHashed } from './stage.ts';
import { createReadStream } from 'node:fs';
import { decompressStream, type ChunkSource } from '../../storage/index.ts';
import { sha256Digest, type ContentStore } from '../content-store.ts';
import { MEDIA_TYPES, type ContainerConfig, type ImageConfig, type ImageManifest } from '../manifest.ts';
import type { Platform } from '../platform.ts';
import { applyChanges } from './changes.ts';
import type { ArchiveImage } from './load.ts';

export interface ImportOptions {
  content: ContentStore;
  /** A file path for the uncompressed tar while it is hashed (the caller removes it). */
  stagingPath: string;
  platform: Platform;
  /** Dockerfile instructions (`CMD ["sh"]`, `ENV k=v`, …). */
  changes?: readonly string[];
  /** Commit message for the history (default `Imported from <source>`). */
  message?: string;
  /** Where the tarball came from, for the history (`-` for stdin). */
  source: string;
  /** Creation time (default now). */
  created?: Date;
  signal?: AbortSignal;
}

function stageTar(input: ChunkSource, path: string, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
  return writeHashed(decompressStream(input), path, signal);
}

/** Build the image from a rootfs tarball and store its blobs. The layer still has to be unpacked. */
export async function importRootfs(input: ChunkSource, opts: ImportOptions): Promise<ArchiveImage> {
  const runtime: ContainerConfig = applyChanges({}, opts.changes ?? []);
  const layer = await stageTar(input, opts.stagingPath, opts.signal);
  await opts.content.ingest(createReadStream(opts.stagingPath, { highWaterMark: 1 << 20 }), layer);
  const created = (opts.created ?? new Date()).toISOString().replace(/\.000Z$/, 'Z');
  const comment = opts.message ?? `Imported from ${opts.source}`;
  const config: ImageConfig = {
    architecture: opts.platform.architecture,
    os: opts.platform.os,
    ...(opts.platform.variant && !(opts.platform.architecture === 'amd64' && opts.platform.variant === 'v1') ? { variant: opts.platform.variant } : {}),
    created,
    comment,
    config: runtime,
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created, created_by: '', comment }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await opts.content.writeBlob(configBytes);
  const descriptor = { mediaType: MEDIA_TYPES.ociLayerTar, digest: layer.digest, size: layer.size };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: configBytes.length },
    layers: [descriptor],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await opts.content.writeBlob(manifestBytes);
  return {
    configDigest,
    config,
    configBytes,
    manifestDigest: manifestDigest ?? sha256Digest(manifestBytes),
    manifest,
    manifestBytes,
    layers: [{ descriptor, diffId: layer.digest }],
    names: [],
  };
}
