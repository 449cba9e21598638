/**
 * Make sense of a staged archive (see stage.ts): find its images through `index.json` (OCI
 * layout, docker ≥ 25) or `manifest.json` (docker-archive), with their names, configs and
 * layers, and store every blob they need in the content store.
 *
 * Legacy docker-archives have no manifests: one is made (OCI, layers as found), so every
 * image in berth has a manifest, and `save` writes it back.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { BerthError } from '../../common/index.ts';
import { detectCompression } from '../../storage/index.ts';
import { sha256Digest, type ContentStore } from '../content-store.ts';
import { parseJsonBytes } from '../json.ts';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, formatBytes } from '../limits.ts';
import { MEDIA_TYPES, checkImageManifest, isIndexMediaType, parseImageConfig, parseManifest, type Descriptor, type ImageConfig, type ImageManifest } from '../manifest.ts';
import { selectPlatform, type Platform } from '../platform.ts';
import { parseReference } from '../reference.ts';
import type { StagedArchive, StagedFile } from './stage.ts';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, type DockerArchiveManifestEntry } from './types.ts';

export interface ArchiveLayer {
  descriptor: Descriptor;
  diffId: string;
  /** Set when the layer is a staged file still to be ingested (legacy archives). */
  staged?: StagedFile;
}

export interface ArchiveImage {
  configDigest: string;
  config: ImageConfig;
  configBytes: Buffer;
  manifestDigest: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  layers: ArchiveLayer[];
  /** Canonical `name:tag` references found for the image. */
  names: string[];
}

const MAX_INDEX_DEPTH = 4;

function invalid(message: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid image archive: ${message}`, { hint: 'give a tar written by berth save, docker save, podman save or skopeo' });
}

class ArchiveFiles {
  private readonly staged: StagedArchive;
  private readonly content: ContentStore;

  constructor(staged: StagedArchive, content: ContentStore) {
    this.staged = staged;
    this.content = content;
  }

  /** Follow symlinks (bounded) to the archive path that holds the data. */
  resolvePath(path: string): string {
    let current = posix.normalize(path.replace(/^(\.\/)+/, ''));
    for (let hops = 0; hops < 16; hops++) {
      const next = this.staged.links.get(current);
      if (next === undefined) return current;
      current = next;
    }
    throw invalid(`too many levels of links at ${path}`);
  }

  blobDigest(path: string): string | undefined {
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(this.resolvePath(path));
    return m && this.staged.blobs.has(`sha256:${m[1]}`) ? `sha256:${m[1]}` : undefined;
  }

  /** The file at `path` (`what` names it in errors), refused unread when larger than `limit`. */
  async read(path: string, limit: number, what: string): Promise<Buffer> {
    const resolved = this.resolvePath(path);
    const digest = this.blobDigest(resolved);
    if (digest) return this.readBlob(digest, limit, what);
    const file = this.staged.files.get(resolved);
    if (file) return file;
    const size = this.staged.staged.get(resolved)?.size ?? this.staged.oversized.get(resolved);
    if (size !== undefined && size > limit) throw tooLarge(`${what} ${path}`, size, limit);
    const staged = this.staged.staged.get(resolved);
    if (staged) return readFile(staged.path);
    throw invalid(`${what} ${path} is missing`);
  }

  blobPath(digest: string): string {
    return this.content.blobPath(digest);
  }

  blobSize(digest: string): Promise<number | undefined> {
    return this.content.size(digest);
  }

  /** A blob of the archive (`what` names it in errors), refused unread when larger than `limit`. */
  async readBlob(digest: string, limit: number, what: string): Promise<Buffer> {
    const size = this.staged.blobs.has(digest) || (await this.content.has(digest)) ? await this.content.size(digest) : undefined;
    if (size === undefined) throw invalid(`${what} ${digest} is missing`);
    if (size > limit) throw tooLarge(`${what} ${digest}`, size, limit);
    return this.content.readBlob(digest);
  }
}

function tooLarge(what: string, size: number, limit: number): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid image archive: ${what} is ${size} bytes, more than the ${formatBytes(limit)} berth reads`, {
    hint: 'the archive is malformed or hostile; nothing was loaded',
  });
}

/** JSON of the archive, as `invalid image archive: <name>: …` errors. */
function parseArchiveJson(bytes: Buffer, name: string): unknown {
  try {
    return parseJsonBytes(bytes, name);
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    throw invalid(err.message.replace(/^invalid /, ''));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPathList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '');
}

/** A checked entry of a docker-archive manifest.json, with its RepoTags as canonical `name:tag`s. */
type DockerEntry = DockerArchiveManifestEntry & { names: string[] };

/** The entries of a docker-archive manifest.json, checked: each with a Config path, Layers paths and RepoTags names. */
function dockerEntries(bytes: Buffer): DockerEntry[] {
  const doc = parseArchiveJson(bytes, 'manifest.json');
  if (!Array.isArray(doc)) throw invalid('manifest.json is not a list of images');
  return doc.map((entry: unknown, i) => {
    const what = `manifest.json entry ${i}`;
    if (!isObject(entry)) throw invalid(`${what} is not an object`);
    const { Config, Layers, RepoTags } = entry;
    if (typeof Config !== 'string' || Config === '') throw invalid(`${what}: "Config" is not a path`);
    if (!isPathList(Layers)) throw invalid(`${what}: "Layers" is not a list of paths`);
    if (RepoTags !== undefined && RepoTags !== null && !isPathList(RepoTags)) throw invalid(`${what}: "RepoTags" is not a list of names`);
    return { Config, Layers, RepoTags: RepoTags ?? null, names: (RepoTags ?? []).map(canonicalTag) };
  });
}

/** The canonical name of an annotated index descriptor, if it has one. */
function nameFromAnnotations(desc: Descriptor): string | undefined {
  const full = desc.annotations?.[ANNOTATION_IMAGE_NAME];
  const refName = desc.annotations?.[ANNOTATION_REF_NAME];
  for (const candidate of [full, refName]) {
    if (!candidate || (candidate === refName && !/[:/]/.test(candidate))) continue; // a bare tag names no repository
    try {
      const ref = parseReference(candidate);
      if (ref.tag) return `${ref.name}:${ref.tag}`;
    } catch {
      // not a reference: skip it
    }
  }
  return undefined;
}

function canonicalTag(repoTag: string): string {
  let ref;
  try {
    ref = parseReference(repoTag);
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    throw invalid(`manifest.json RepoTags: ${err.message}`);
  }
  if (!ref.tag) throw invalid(`RepoTag ${JSON.stringify(repoTag)} has no tag`);
  return `${ref.name}:${ref.tag}`;
}

/** A descriptor's blob, refused before it is read when the descriptor says it is larger than `limit`. */
async function readDescribed(files: ArchiveFiles, desc: Descriptor, limit: number, what: string): Promise<Buffer> {
  if (desc.size > limit) throw tooLarge(`${what} ${desc.digest}`, desc.size, limit);
  return files.readBlob(desc.digest, limit, what);
}

async function imageFromManifest(files: ArchiveFiles, manifestBytes: Buffer, manifestDigest: string): Promise<ArchiveImage> {
  const parsed = parseManifest(manifestBytes);
  if (parsed.kind !== 'manifest') throw invalid(`${manifestDigest} is not an image manifest`);
  const manifest = parsed.manifest;
  checkImageManifest(manifest);
  const configBytes = await readDescribed(files, manifest.config, MAX_CONFIG_BYTES, 'image config');
  const config = parseImageConfig(configBytes);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw invalid(`manifest ${manifestDigest} has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff IDs`);
  }
  const layers = manifest.layers.map((descriptor, i) => ({ descriptor, diffId: config.rootfs.diff_ids[i]! }));
  for (const layer of layers) {
    if ((await files.blobSize(layer.descriptor.digest)) === undefined) throw invalid(`layer blob ${layer.descriptor.digest} is missing`);
  }
  return { configDigest: manifest.config.digest, config, configBytes, manifestDigest, manifest, manifestBytes, layers, names: [] };
}

async function imagesFromIndex(files: ArchiveFiles, indexBytes: Buffer, platform: Platform | undefined, depth: number): Promise<ArchiveImage[]> {
  let parsed;
  try {
    parsed = parseManifest(indexBytes, MEDIA_TYPES.ociIndex, 'index.json');
  } catch (err) {
    if (!(err instanceof BerthError) || err.code !== 'INVALID_ARGUMENT') throw err;
    throw invalid(err.message.replace(/^invalid /, ''));
  }
  if (parsed.kind !== 'index') throw invalid('index.json is not an image index');
  const out: ArchiveImage[] = [];
  for (const desc of parsed.index.manifests) {
    let target = desc;
    if (isIndexMediaType(desc.mediaType)) {
      if (depth >= MAX_INDEX_DEPTH) throw invalid('image indexes nest too deeply');
      const nested = parseManifest(await readDescribed(files, desc, MAX_MANIFEST_BYTES, 'image index'));
      if (nested.kind !== 'index') throw invalid(`${desc.digest} is not an image index`);
      target = selectPlatform(nested.index, platform);
    }
    const image = await imageFromManifest(files, await readDescribed(files, target, MAX_MANIFEST_BYTES, 'image manifest'), target.digest);
    const name = nameFromAnnotations(desc);
    const seen = out.find((i) => i.configDigest === image.configDigest && i.manifestDigest === image.manifestDigest);
    if (seen) {
      if (name && !seen.names.includes(name)) seen.names.push(name);
      continue;
    }
    if (name) image.names.push(name);
    out.push(image);
  }
  return out;
}

/** The first `length` bytes of a file. */
async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(length);
    const { bytesRead } = await handle.read(head, 0, length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function layerMediaType(files: ArchiveFiles, path: string, staged: StagedFile | undefined): Promise<string> {
  const blob = files.blobDigest(path);
  const head = staged ? await readHead(staged.path, 8) : blob ? await readHead(files.blobPath(blob), 8) : Buffer.alloc(0);
  const compression = detectCompression(head);
  return compression === 'gzip' ? MEDIA_TYPES.ociLayerGzip : compression === 'zstd' ? MEDIA_TYPES.ociLayerZstd : MEDIA_TYPES.ociLayerTar;
}

async function imageFromDockerEntry(files: ArchiveFiles, staged: StagedArchive, entry: DockerEntry, i: number): Promise<ArchiveImage> {
  const configBytes = await files.read(entry.Config, MAX_CONFIG_BYTES, 'image config');
  const configDigest = sha256Digest(configBytes);
  const config = parseImageConfig(configBytes);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) {
    throw invalid(`manifest.json entry ${i} has ${entry.Layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff IDs`);
  }
  const layers: ArchiveLayer[] = [];
  for (const [j, path] of entry.Layers.entries()) {
    const resolved = files.resolvePath(path);
    const blob = files.blobDigest(resolved);
    const stagedFile = staged.staged.get(resolved);
    let digest: string;
    let size: number;
    if (blob) {
      digest = blob;
      size = (await files.blobSize(blob)) ?? 0;
    } else if (stagedFile) {
      digest = stagedFile.digest;
      size = stagedFile.size;
    } else {
      const bytes = staged.files.get(resolved);
      if (!bytes) throw invalid(`layer ${path} is missing`);
      throw invalid(`layer ${path} is not a layer tar`);
    }
    const mediaType = await layerMediaType(files, resolved, stagedFile);
    layers.push({ descriptor: { mediaType, digest, size }, diffId: config.rootfs.diff_ids[j]!, ...(stagedFile ? { staged: stagedFile } : {}) });
  }
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: configBytes.length },
    layers: layers.map((l) => l.descriptor),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const names = entry.names;
  return { configDigest, config, configBytes, manifestDigest: sha256Digest(manifestBytes), manifest, manifestBytes, layers, names };
}

/** The images of a staged archive, with their names. Fails on anything inconsistent. */
export async function resolveArchive(staged: StagedArchive, content: ContentStore, opts: { platform?: Platform } = {}): Promise<ArchiveImage[]> {
  const files = new ArchiveFiles(staged, content);
  const indexBytes = staged.files.get('index.json');
  const dockerBytes = staged.files.get('manifest.json');
  let images: ArchiveImage[];
  if (indexBytes) {
    images = await imagesFromIndex(files, indexBytes, opts.platform, 0);
    if (dockerBytes) {
      // docker ≥ 25: the same images, maybe with tags the index does not carry
      for (const entry of dockerEntries(dockerBytes)) {
        const digest = files.blobDigest(entry.Config);
        const image = images.find((im) => im.configDigest === digest);
        for (const name of entry.names) if (image && !image.names.includes(name)) image.names.push(name);
      }
    }
  } else if (dockerBytes) {
    const entries = dockerEntries(dockerBytes);
    images = [];
    for (const [i, entry] of entries.entries()) images.push(await imageFromDockerEntry(files, staged, entry, i));
  } else {
    throw invalid('it has neither index.json nor manifest.json');
  }
  if (images.length === 0) throw invalid('it holds no images');
  return images;
}

/** Store what an archive image needs that is not in the content store yet: config, manifest, staged layers. */
export async function storeArchiveImage(image: ArchiveImage, content: ContentStore): Promise<void> {
  await content.writeBlob(image.configBytes, image.configDigest);
  await content.writeBlob(image.manifestBytes, image.manifestDigest);
  for (const layer of image.layers) {
    if (!layer.staged) continue;
    const { digest, size } = layer.descriptor;
    await content.ingest(createReadStream(layer.staged.path, { highWaterMark: 1 << 20 }), { digest, size });
  }
}
