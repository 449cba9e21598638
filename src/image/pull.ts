/**
 * Pull an image: resolve the reference to a manifest (through an index, for the platform
 * asked for), fetch the config, then download every layer into the content store
 * (verified, resumable) and unpack it into the layer store (verified against the config's
 * diff ID) as it downloads, a few layers at a time. Layers and blobs already here are not
 * fetched again.
 *
 * Order on disk: the config (needed to unpack), then each unpacked layer and its blob (a
 * streamed layer's blob is committed only once the layer checked out), then the manifests, so
 * a manifest in the content store always has everything it names. Whoever records the image (the engine's database)
 * does so after pullImage returns.
 */
import { BerthError } from '../common/index.ts';
import { LayerStore, THREADED_MIN_BYTES, prewarmUnpack, type LayerUnpackResult } from '../storage/index.ts';
import { ChunkQueue } from './chunk-queue.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, formatBytes } from './limits.ts';
import { digestHex, type BlobConsumer, type ContentStore } from './content-store.ts';
import {
  checkImageManifest,
  parseImageConfig,
  parseManifest,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
} from './manifest.ts';
import { formatPlatform, hostPlatform, normalizePlatform, platformRank, selectPlatform, type Platform } from './platform.ts';
import { parseReference, type ImageReference } from './reference.ts';
import type { RegistryClient } from './registry/client.ts';

export type LayerStatus = 'waiting' | 'downloading' | 'verifying' | 'extracting' | 'done' | 'exists';

export type PullEvent =
  | { type: 'resolving'; ref: string }
  | { type: 'manifest'; digest: string; mediaType: string; platform?: string }
  | { type: 'layer'; digest: string; status: LayerStatus; current?: number; total?: number }
  | { type: 'done'; digest: string };

export interface PullOptions {
  client: RegistryClient;
  content: ContentStore;
  layers: LayerStore;
  /** Default: this machine's platform (linux/amd64 here). */
  platform?: Platform;
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  onProgress?: (event: PullEvent) => void;
  signal?: AbortSignal;
}

export interface PulledImage {
  reference: ImageReference;
  /** Digest of the image manifest (for an index: of the platform's manifest). */
  manifestDigest: string;
  manifest: ImageManifest;
  /** Digest of what the reference names: the index when there is one, else the manifest (docker's "Digest:"). */
  repoDigest: string;
  /** Set when the reference named an index. */
  indexDigest?: string;
  configDigest: string;
  config: ImageConfig;
  diffIds: string[];
  chainIds: string[];
  /** Bytes of file data in all layers, unpacked. */
  size: number;
  /** Bytes of all layer blobs as downloaded (compressed). */
  downloadSize: number;
}

const PROGRESS_STEP = 256 * 1024;
/** Compressed bytes a layer's download may be ahead of its unpacking. */
const STREAM_QUEUE_BYTES = 1024 * 1024;

/** Run `fn` over `items`, at most `limit` at a time; on the first failure the rest are aborted, then it is thrown. */
async function runPool<T>(items: T[], limit: number, abort: AbortController, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (error) {
        if (failure === undefined) {
          failure = { error };
          abort.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

export async function pullImage(refText: string, opts: PullOptions): Promise<PulledImage> {
  const { client, content } = opts;
  const emit = opts.onProgress ?? (() => {});
  const reference = parseReference(refText);
  const internal = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, internal.signal]) : internal.signal;
  const want = opts.platform ? normalizePlatform(opts.platform) : hostPlatform();
  try {
    emit({ type: 'resolving', ref: reference.canonical });
    const top = await client.getManifest(reference, undefined, { signal });
    let parsed = parseManifest(top.bytes, top.mediaType);
    let manifestResult = top;
    let indexDigest: string | undefined;
    let platformText: string | undefined;
    if (parsed.kind === 'index') {
      indexDigest = top.digest;
      const desc = selectPlatform(parsed.index, want);
      platformText = desc.platform ? formatPlatform(normalizePlatform(desc.platform)) : undefined;
      if (desc.size > MAX_MANIFEST_BYTES) throw tooLarge(`the manifest ${desc.digest} of ${reference.canonical}`, desc.size, MAX_MANIFEST_BYTES);
      manifestResult = await client.getManifest({ ...reference, digest: desc.digest }, undefined, { signal });
      parsed = parseManifest(manifestResult.bytes, manifestResult.mediaType);
      if (parsed.kind !== 'manifest') throw new BerthError('INVALID_ARGUMENT', `${reference.canonical}: index entry ${desc.digest} is an index, not an image manifest`);
    }
    const manifest = parsed.manifest;
    checkImageManifest(manifest);
    // a big layer to download will want the unpacker's threads: they start while the config comes
    for (const layer of manifest.layers) {
      if (layer.size >= THREADED_MIN_BYTES && !(await content.has(layer.digest))) {
        prewarmUnpack();
        break;
      }
    }
    emit({ type: 'manifest', digest: manifestResult.digest, mediaType: manifest.mediaType, ...(platformText ? { platform: platformText } : {}) });

    const configDigest = manifest.config.digest;
    // the config is read into memory and recorded in the database: its size is bounded first
    if (manifest.config.size > MAX_CONFIG_BYTES) throw tooLarge(`the image config ${configDigest} of ${reference.canonical}`, manifest.config.size, MAX_CONFIG_BYTES);
    if (!(await content.has(configDigest))) {
      const size = manifest.config.size;
      await content.ingest(await client.fetchBlob(reference, configDigest, { signal, size }), { digest: configDigest, size }, { signal });
    }
    const config = parseImageConfig(await content.readBlob(configDigest, { maxBytes: MAX_CONFIG_BYTES, what: 'image config' }));
    checkConfigPlatform(reference, config, want, opts.platform !== undefined && indexDigest === undefined);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new BerthError('INVALID_ARGUMENT', `${reference.canonical}: the manifest has ${manifest.layers.length} layers but the config lists ${diffIds.length} diff IDs`, {
        hint: 'the image is malformed',
      });
    }
    const chainIds = LayerStore.chainIds(diffIds);

    const sizes: number[] = [];
    for (const layer of manifest.layers) emit({ type: 'layer', digest: layer.digest, status: 'waiting', total: layer.size });
    await runPool(manifest.layers, opts.concurrency ?? 3, internal, async (layer, i) => {
      sizes[i] = await pullLayer({ ...opts, reference, signal, emit }, layer, chainIds[i] as string, diffIds[i] as string);
    });

    if (indexDigest !== undefined) await content.writeBlob(top.bytes, indexDigest);
    await content.writeBlob(manifestResult.bytes, manifestResult.digest);
    emit({ type: 'done', digest: top.digest });
    return {
      reference,
      manifestDigest: manifestResult.digest,
      manifest,
      repoDigest: top.digest,
      ...(indexDigest !== undefined ? { indexDigest } : {}),
      configDigest,
      config,
      diffIds,
      chainIds,
      size: sizes.reduce((a, b) => a + b, 0),
      downloadSize: manifest.layers.reduce((a, l) => a + l.size, 0),
    };
  } catch (err) {
    if (opts.signal?.aborted) {
      throw new BerthError('CANCELED', `pull of ${reference.canonical} was canceled`, { cause: err });
    }
    throw err;
  }
}

interface LayerContext extends PullOptions {
  reference: ImageReference;
  signal: AbortSignal;
  emit: (event: PullEvent) => void;
}

/**
 * Download (unless stored) and unpack (unless unpacked) one layer; returns its unpacked size.
 * A layer that is neither is unpacked while it downloads (the bytes go to the content store and
 * the unpacker at once); the blob is committed only once the layer is, and on any failure
 * neither stays.
 */
async function pullLayer(ctx: LayerContext, layer: Descriptor, chainId: string, diffId: string): Promise<number> {
  const { client, content, layers, reference, signal, emit } = ctx;
  const digest = layer.digest;
  const total = layer.size;
  const unpacked = await layers.info(chainId);
  if (unpacked && (await content.has(digest))) {
    emit({ type: 'layer', digest, status: 'exists', total });
    return unpacked.size;
  }
  let streamed: LayerUnpackResult | undefined;
  if (!(await content.has(digest))) {
    let reported = -PROGRESS_STEP;
    emit({ type: 'layer', digest, status: 'downloading', current: 0, total });
    await content.ingestResumable(
      `sha256-${digestHex(digest)}`,
      (offset) => client.fetchBlob(reference, digest, { offset, signal, size: total }),
      { digest, size: total },
      {
        signal,
        onBytes: (current) => {
          if (current - reported < PROGRESS_STEP && current !== total) return;
          reported = current;
          emit({ type: 'layer', digest, status: 'downloading', current, total });
        },
        ...(unpacked ? {} : { consumer: () => unpackingConsumer(ctx, layer, chainId, diffId, (result) => (streamed = result)) }),
      },
    );
    if (streamed === undefined) emit({ type: 'layer', digest, status: 'verifying', current: total, total });
  }
  if (unpacked) {
    emit({ type: 'layer', digest, status: 'done', total });
    return unpacked.size;
  }
  if (streamed === undefined) {
    // the blob was stored already (or by a concurrent pull): unpack it from the store
    emit({ type: 'layer', digest, status: 'extracting', current: 0, total });
    let reported = 0;
    streamed = await layers.unpack(chainId, content.openBlob(digest), {
      expectedDiffId: diffId,
      size: total,
      signal,
      onProgress: (event) => {
        if (event.type !== 'progress' || event.inputBytes - reported < PROGRESS_STEP) return;
        reported = event.inputBytes;
        emit({ type: 'layer', digest, status: 'extracting', current: Math.min(event.inputBytes, total), total });
      },
    });
  }
  emit({ type: 'layer', digest, status: 'done', total });
  return streamed.size;
}

/**
 * A consumer of a layer blob's bytes (see ContentStore.ingestResumable) that unpacks them as
 * they arrive: through a bounded queue, so the download waits for the unpacker. Its `close`
 * (the blob's digest is verified by then) waits for the layer to be checked against its diff ID
 * and committed; `abort` waits until its temp dir is gone.
 */
function unpackingConsumer(ctx: LayerContext, layer: Descriptor, chainId: string, diffId: string, onDone: (result: LayerUnpackResult) => void): BlobConsumer {
  const { layers, signal, emit } = ctx;
  const queue = new ChunkQueue(STREAM_QUEUE_BYTES);
  const unpacking = layers.unpack(chainId, queue, { expectedDiffId: diffId, size: layer.size, signal });
  unpacking.catch(() => {}); // awaited by close or abort
  return {
    write: (chunk) => queue.push(chunk),
    async close() {
      emit({ type: 'layer', digest: layer.digest, status: 'verifying', current: layer.size, total: layer.size });
      emit({ type: 'layer', digest: layer.digest, status: 'extracting', current: layer.size, total: layer.size });
      queue.end();
      onDone(await unpacking);
    },
    async abort(reason) {
      queue.fail(reason);
      await unpacking.catch(() => {});
    },
  };
}

function tooLarge(what: string, size: number, limit: number): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${what} is ${size} bytes, more than the ${formatBytes(limit)} berth reads`, {
    hint: 'the image is malformed or the registry is hostile; nothing of it was stored',
  });
}

/** A single-platform image pulled with an explicit platform must be of that platform (as docker checks). */
function checkConfigPlatform(reference: ImageReference, config: ImageConfig, want: Platform, isExplicit: boolean): void {
  if (!isExplicit) return;
  const actual: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (platformRank(want, actual) === undefined) {
    throw new BerthError('NOT_FOUND', `image ${reference.canonical} was found but does not match the specified platform: wanted ${formatPlatform(want)}, actual ${formatPlatform(normalizePlatform(actual))}`);
  }
}
