/**
 * `commit`: a new image from a container: its image's layers plus one layer made of its
 * overlay upper dir, and a config made of the container's (with `--change` instructions).
 *
 * The layer is an uncompressed tar (its digest is its diff ID, as `import` stores layers),
 * written from the upper dir without following any symlink in it (storage/layer-walk.ts),
 * with overlayfs's whiteouts turned into OCI ones: a whiteout device becomes `.wh.<name>`, an
 * opaque directory gets a `.wh..wh..opq` entry. A running container is frozen (`--pause`,
 * the default) only while its upper dir is read. The blob is stored, unpacked into the layer
 * store like any other, and the image recorded with its name, under a write lease: a failure
 * records nothing and garbage collection takes what was stored.
 */
import { createReadStream, closeSync, openSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { MEDIA_TYPES, applyChanges, parseReference, writeTarStream, type ContainerConfig, type ImageConfig, type ImageManifest, type TarWriteEntry } from '../image/index.ts';
import { LayerStore, WHITEOUT_OPAQUE_DIR, WHITEOUT_PREFIX, carriedXattrs, walkUpper } from '../storage/index.ts';
import type { IdMapping } from '../oci/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths } from './container-paths.ts';
import type { ContainerRecord } from './container-store.ts';
import { HardLinks, idMapper, isMountpointArtifact, tarEntryOf } from './container-fs.ts';
import { effectiveRecord } from './container-lifecycle.ts';
import { pauseContainer, unpauseContainer } from './container-verbs.ts';
import { withTempDir } from './context.ts';
import { underWriteLease } from './image-load.ts';
import type { ImageLayer, ImageRecord, NewImage } from './image-store.ts';

export interface CommitOptions {
  /** `REPO[:TAG]` to give the image (none: a dangling image, as docker makes). */
  imageRef?: string;
  author?: string;
  message?: string;
  /** Dockerfile instructions applied to the config: `CMD ["sh"]`, `ENV k=v`, … */
  changes?: readonly string[];
  /** Freeze a running container while its filesystem is read (default true, as docker). */
  pause?: boolean;
  signal?: AbortSignal;
}

export interface CommitResult {
  id: string;
  names: string[];
}

function splitPath(path: Buffer): { dir: Buffer; base: Buffer } {
  const cut = path.lastIndexOf(0x2f);
  return cut < 0 ? { dir: Buffer.alloc(0), base: path } : { dir: path.subarray(0, cut + 1), base: path.subarray(cut + 1) };
}

/**
 * The upper dir as an OCI layer's entries (overlay whiteouts → `.wh.` entries). A name of the
 * container's own that starts with `.wh.` is refused: a layer cannot hold it (it would delete
 * a file when unpacked). `stats.entries` counts what was written.
 */
export function* upperLayerEntries(upperDir: string, opts: { uidMaps?: IdMapping[]; gidMaps?: IdMapping[]; stats?: { entries: number } } = {}): Generator<TarWriteEntry> {
  const uid = idMapper(opts.uidMaps);
  const gid = idMapper(opts.gidMaps ?? opts.uidMaps);
  const links = new HardLinks();
  for (const entry of walkUpper(upperDir)) {
    const { dir, base } = splitPath(entry.path);
    if (base.toString('latin1').startsWith(WHITEOUT_PREFIX)) {
      throw new BerthError('FAILED_PRECONDITION', `cannot commit: the container has a file named ${JSON.stringify('/' + entry.path.toString())}, which a layer cannot hold (a ".wh." name deletes a file)`, {
        hint: 'rename or remove it in the container and commit again',
      });
    }
    if (isMountpointArtifact(entry)) continue; // the runtime's, not the container's
    if (opts.stats) opts.stats.entries++;
    if (entry.kind === 'whiteout') {
      yield { name: Buffer.concat([dir, Buffer.from(WHITEOUT_PREFIX), base]), type: 'file', mode: 0o600, size: 0 };
      continue;
    }
    const tarEntry = tarEntryOf(entry);
    if (!tarEntry) continue;
    tarEntry.uid = uid(entry.stat.uid);
    tarEntry.gid = gid(entry.stat.gid);
    const xattrs = carriedXattrs(entry);
    if (xattrs.length) tarEntry.xattrs = xattrs;
    yield links.linkFor(entry, tarEntry);
    if (entry.isOpaque) yield { name: Buffer.concat([entry.path, Buffer.from('/' + WHITEOUT_OPAQUE_DIR)]), type: 'file', mode: 0o600, size: 0, uid: tarEntry.uid, gid: tarEntry.gid };
  }
}

/**
 * Pass `chunks` on while writing them to a new file at `path` (coalesced into large writes)
 * and hashing them; `done` gets the file's sha256 and size once the last chunk has passed.
 */
async function* teeToFile(chunks: AsyncIterable<Uint8Array>, path: string, done: (file: { digest: string; size: number }) => Promise<void>): AsyncGenerator<Uint8Array> {
  const fd = openSync(path, 'wx', 0o600);
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  let used = 0;
  let size = 0;
  const flush = () => {
    let offset = 0;
    while (offset < used) offset += writeSync(fd, buffer, offset, used - offset);
    used = 0;
  };
  try {
    for await (const chunk of chunks) {
      hash.update(chunk);
      size += chunk.length;
      if (used + chunk.length > buffer.length) flush();
      if (chunk.length >= buffer.length) {
        let offset = 0;
        while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
      } else {
        buffer.set(chunk, used);
        used += chunk.length;
      }
      yield chunk;
    }
    flush();
  } finally {
    closeSync(fd);
  }
  await done({ digest: `sha256:${hash.digest('hex')}`, size });
}

/** The image config's `config` from the container's: what docker's commit carries over. */
export function committedConfig(rec: ContainerRecord, image: ImageRecord, changes: readonly string[]): ContainerConfig {
  const { Image: _image, ...config } = rec.config;
  return applyChanges({ ...(config as ContainerConfig), Image: image.id }, changes);
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

function commitNames(imageRef: string | undefined): string[] {
  if (!imageRef) return [];
  const ref = parseReference(imageRef);
  if (ref.digest) throw new BerthError('INVALID_ARGUMENT', `invalid reference format: ${JSON.stringify(imageRef)} has a digest; commit takes REPOSITORY[:TAG]`);
  return [`${ref.name}:${ref.tag}`];
}

/** Make the image; returns its ID and names. */
export async function commitContainer(ctx: EngineContext, ref: string, opts: CommitOptions = {}): Promise<CommitResult> {
  // everything that can be refused is refused before anything is paused or written
  const found = effectiveRecord(ctx, ctx.containers.resolve(ref));
  const names = commitNames(opts.imageRef);
  const image = ctx.store.get(found.imageId);
  if (!image) throw new BerthError('FAILED_PRECONDITION', `cannot commit container ${ref}: its image ${found.imageId} is gone`);
  const runtime = committedConfig(found, image, opts.changes ?? []);
  return underWriteLease(ctx, opts.signal, () =>
    withTempDir(ctx, 'commit', async (dir) => {
      const layerPath = join(dir, 'layer.tar');
      const stats = { entries: 0 };
      const upperDir = containerPaths(ctx.paths, found.id).upperDir;
      let isPaused = false;
      if (opts.pause !== false && found.status === 'running') {
        await pauseContainer(ctx, found.id);
        isPaused = true;
      }
      const unpause = async () => {
        if (!isPaused) return;
        isPaused = false;
        await unpauseContainer(ctx, found.id);
      };
      // the layer is stored as a blob only (its tar, uncompressed: its digest is its diff ID), as
      // containerd's content store does: it is unpacked into the layer store when the image is
      // first run (ensureLayersUnpacked), not here. The container is let go once its upper dir is read.
      let layer: { digest: string; size: number } | undefined;
      try {
        const entries = upperLayerEntries(upperDir, { ...(found.spec.uidMaps ? { uidMaps: found.spec.uidMaps } : {}), ...(found.spec.gidMaps ? { gidMaps: found.spec.gidMaps } : {}), stats });
        for await (const chunk of teeToFile(writeTarStream(entries), layerPath, async (file) => {
          layer = file;
          await unpause();
        })) {
          if (opts.signal?.aborted) throw new BerthError('CANCELED', 'commit canceled');
          void chunk;
        }
      } finally {
        await unpause();
      }
      if (!layer) throw new BerthError('INTERNAL', `commit of ${found.id}: no layer was written`);
      const isEmpty = stats.entries === 0;
      const created = timestamp(new Date());
      const isOci = image.manifestMediaType !== MEDIA_TYPES.dockerManifest;
      const layers: ImageLayer[] = [...image.layers];
      const diffIds = [...image.config.rootfs.diff_ids];
      if (!isEmpty) {
        await ctx.content.ingest(createReadStream(layerPath, { highWaterMark: 1 << 20 }), layer);
        diffIds.push(layer.digest);
        const chainId = LayerStore.chainIds(diffIds).at(-1)!;
        layers.push({ digest: layer.digest, mediaType: isOci ? MEDIA_TYPES.ociLayerTar : MEDIA_TYPES.dockerLayerTar, size: layer.size, diffId: layer.digest, chainId, diffSize: layer.size });
      }
      const cmd = Array.isArray(found.config.Cmd) ? (found.config.Cmd as string[]) : [];
      const config: ImageConfig = {
        ...image.config,
        created,
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.message ? { comment: opts.message } : {}),
        config: runtime,
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: [
          ...(image.config.history ?? []),
          {
            created,
            created_by: cmd.join(' '),
            ...(opts.author ? { author: opts.author } : {}),
            ...(opts.message ? { comment: opts.message } : {}),
            ...(isEmpty ? { empty_layer: true } : {}),
          },
        ],
      };
      if (!opts.author) delete config.author;
      if (!opts.message) delete config.comment;
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDigest = await ctx.content.writeBlob(configBytes);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: isOci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest,
        config: { mediaType: isOci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig, digest: configDigest, size: configBytes.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      };
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      const manifestDigest = await ctx.content.writeBlob(manifestBytes);
      const record: NewImage = {
        id: configDigest,
        manifestDigest,
        manifestMediaType: manifest.mediaType!,
        config,
        layers,
        size: layers.reduce((sum, l) => sum + (l.diffSize ?? l.size), 0),
      };
      ctx.db.transaction(() => {
        ctx.store.add(record, { names });
        ctx.containers.event('container', 'commit', found.id, { name: found.name, image: found.imageRef, ...(names[0] ? { imageRef: names[0] } : {}) });
      });
      return { id: configDigest, names };
    }),
  );
}
