/**
 * `save`: images as a docker-archive with an OCI image layout inside, as docker ≥ 25 writes
 * it, so that both old readers (docker load, skopeo `docker-archive:`) and OCI readers
 * (skopeo `oci-archive:`, umoci, containerd) take it:
 *
 *   oci-layout                {"imageLayoutVersion": "1.0.0"}
 *   blobs/sha256/<hex>        manifests, configs and layers, exactly as stored
 *   index.json                one descriptor per name (annotated with it) or per bare image
 *   manifest.json             docker-archive: [{Config, RepoTags, Layers}] with blob paths
 *   repositories              legacy {repo: {tag: id}}
 *
 * The archive is a stream of chunks; blobs are streamed from their files.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { BerthError } from '../../common/index.ts';
import { familiarName, parseReference } from '../reference.ts';
import type { Descriptor } from '../manifest.ts';
import { writeTarStream, type TarWriteEntry } from './tar-write.ts';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, OCI_LAYOUT, type DockerArchiveManifestEntry } from './types.ts';

const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

export interface SaveImage {
  /** The image ID: the config digest. */
  id: string;
  /** The manifest to write: its blob must be in the store. */
  manifest: Descriptor;
  /** Layer blobs in order (from the manifest). */
  layers: Descriptor[];
  /** Canonical `name:tag` references to record for this image (none for an image saved by ID). */
  names: string[];
}

/** What save needs of the content store: where a blob's file is. */
export interface BlobFiles {
  blobPath(digest: string): string;
}

function blobName(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return `blobs/${algorithm}/${hex}`;
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

async function blobEntry(content: BlobFiles, digest: string, expectedSize: number | undefined): Promise<TarWriteEntry> {
  const path = content.blobPath(digest);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new BerthError('NOT_FOUND', `blob ${digest} is missing from the content store`, { cause: err, hint: 'pull or load the image again' });
  }
  if (expectedSize !== undefined && size !== expectedSize) {
    throw new BerthError('INTERNAL', `blob ${digest} has ${size} bytes in the content store, its descriptor says ${expectedSize}`);
  }
  return { name: blobName(digest), type: 'file', mode: 0o444, size, body: createReadStream(path, { highWaterMark: 1 << 20 }) };
}

/** The index.json descriptors: one per name, or one bare descriptor for an image saved by ID. */
function indexDescriptors(images: SaveImage[]): Descriptor[] {
  const out: Descriptor[] = [];
  for (const image of images) {
    const base: Descriptor = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size };
    if (image.names.length === 0) {
      out.push(base);
      continue;
    }
    for (const name of image.names) {
      const ref = parseReference(name);
      const annotations: Record<string, string> = { [ANNOTATION_IMAGE_NAME]: ref.canonical };
      if (ref.tag) annotations[ANNOTATION_REF_NAME] = ref.tag;
      out.push({ ...base, annotations });
    }
  }
  return out;
}

function dockerManifest(images: SaveImage[]): DockerArchiveManifestEntry[] {
  return images.map((image) => ({
    Config: blobName(image.id),
    RepoTags: image.names.length ? image.names.map((n) => formatFamiliar(n)) : null,
    Layers: image.layers.map((l) => blobName(l.digest)),
  }));
}

function formatFamiliar(name: string): string {
  const ref = parseReference(name);
  return `${familiarName(ref.name)}:${ref.tag ?? 'latest'}`;
}

function repositories(images: SaveImage[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const image of images) {
    const top = image.layers.at(-1)?.digest ?? image.id;
    for (const name of image.names) {
      const ref = parseReference(name);
      const repo = familiarName(ref.name);
      (out[repo] ??= {})[ref.tag ?? 'latest'] = top.slice(top.indexOf(':') + 1);
    }
  }
  return out;
}

/** Merge entries for the same image (saved under several names) into one. */
function mergeImages(images: SaveImage[]): SaveImage[] {
  const byId = new Map<string, SaveImage>();
  for (const image of images) {
    const seen = byId.get(image.id);
    if (!seen) byId.set(image.id, { ...image, names: [...new Set(image.names)] });
    else for (const name of image.names) if (!seen.names.includes(name)) seen.names.push(name);
  }
  return [...byId.values()];
}

/** The tar entries of an archive of `images` (deduplicated blobs, metadata last as docker writes it). */
async function* archiveEntries(content: BlobFiles, images: SaveImage[]): AsyncGenerator<TarWriteEntry> {
  const merged = mergeImages(images);
  yield { name: 'blobs', type: 'dir' };
  yield { name: 'blobs/sha256', type: 'dir' };
  const written = new Set<string>();
  for (const image of merged) {
    const blobs: Array<[string, number | undefined]> = [
      [image.manifest.digest, image.manifest.size],
      [image.id, undefined],
      ...image.layers.map((l): [string, number] => [l.digest, l.size]),
    ];
    for (const [digest, size] of blobs) {
      if (written.has(digest)) continue;
      written.add(digest);
      yield await blobEntry(content, digest, size);
    }
  }
  const index = { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: indexDescriptors(merged) };
  for (const [name, value] of [
    ['index.json', index],
    ['manifest.json', dockerManifest(merged)],
    ['oci-layout', OCI_LAYOUT],
    ['repositories', repositories(merged)],
  ] as const) {
    const body = jsonBytes(value);
    yield { name, type: 'file', size: body.length, body };
  }
}

/** Write `images` as a docker-archive (with OCI layout) tar stream. */
export function saveArchive(content: BlobFiles, images: SaveImage[]): AsyncGenerator<Uint8Array> {
  if (images.length === 0) throw new BerthError('INVALID_ARGUMENT', 'no images to save');
  return writeTarStream(archiveEntries(content, images));
}
