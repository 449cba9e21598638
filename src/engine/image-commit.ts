/**
 * The last step of load and import: unpack an image's layers (each once, shared by chain
 * ID) and record the image with its names. Its blobs must already be in the content store.
 */
import { BerthError } from '../common/index.ts';
import type { ArchiveImage } from '../image/index.ts';
import { LayerStore } from '../storage/index.ts';
import type { ImageContext } from './context.ts';
import type { ImageLayer, NewImage } from './image-store.ts';

export interface LayerProgress {
  type: 'layer';
  digest: string;
  status: 'extracting' | 'done' | 'exists';
  current?: number;
  total?: number;
}

/** Unpack the layers of an image that are not unpacked yet; returns the image's layer records. */
export async function unpackImageLayers(
  ctx: ImageContext,
  image: Pick<ArchiveImage, 'layers'>,
  opts: { signal?: AbortSignal; onProgress?: (event: LayerProgress) => void } = {},
): Promise<ImageLayer[]> {
  const chainIds = LayerStore.chainIds(image.layers.map((l) => l.diffId));
  const out: ImageLayer[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const chainId = chainIds[i]!;
    const { digest, mediaType, size } = layer.descriptor;
    const total = size;
    const result = await ctx.layers.unpack(chainId, ctx.content.openBlob(digest), {
      expectedDiffId: layer.diffId,
      size,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress
        ? { onProgress: (e) => { if (e.type === 'progress') opts.onProgress!({ type: 'layer', digest, status: 'extracting', current: e.inputBytes, total }); } }
        : {}),
    });
    opts.onProgress?.({ type: 'layer', digest, status: result.existed ? 'exists' : 'done' });
    out.push({ digest, mediaType, size, diffId: layer.diffId, chainId, diffSize: result.size });
  }
  return out;
}

/**
 * Unpacks the layers of an image that are only blobs so far (a committed image's new layer is
 * unpacked when the image is first run, not at commit); nothing when all are unpacked.
 */
export async function ensureLayersUnpacked(ctx: ImageContext, image: { layers: readonly ImageLayer[] }, opts: { signal?: AbortSignal } = {}): Promise<void> {
  let missing = false;
  for (const l of image.layers) if (!(await ctx.layers.has(l.chainId))) missing = true;
  if (!missing) return;
  await unpackImageLayers(ctx, { layers: image.layers.map((l) => ({ descriptor: { digest: l.digest, mediaType: l.mediaType, size: l.size }, diffId: l.diffId })) }, opts);
}

export function newImageRecord(image: ArchiveImage, layers: ImageLayer[]): NewImage {
  if (image.config.rootfs.diff_ids.length !== layers.length) {
    throw new BerthError('INTERNAL', `image ${image.configDigest}: ${layers.length} layers for ${image.config.rootfs.diff_ids.length} diff IDs`);
  }
  return {
    id: image.configDigest,
    manifestDigest: image.manifestDigest,
    manifestMediaType: image.manifest.mediaType,
    config: image.config,
    layers,
    size: layers.reduce((sum, l) => sum + (l.diffSize ?? l.size), 0),
  };
}
