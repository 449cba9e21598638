/**
 * Image manifests as registries serve them: Docker v2 schema 2 manifests and manifest lists,
 * OCI manifests and indexes, and the image config they point at. Parsing validates what berth
 * relies on (schema version, descriptors with well-formed digests and sizes, rootfs diff IDs)
 * and fails with an error that names the document and the field.
 */
import { BerthError } from '../common/index.ts';
import { parseJsonBytes } from './json.ts';
import { isValidDigest } from './reference.ts';
import type { Platform } from './platform.ts';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Docker's uncompressed layer (rare, but written by some tools). */
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributableTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** The manifest types berth reads, in the order of preference sent as `Accept`. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
];

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);
const CONFIG_TYPES = new Set<string>([MEDIA_TYPES.dockerConfig, MEDIA_TYPES.ociConfig]);
const LAYER_COMPRESSION = new Map<string, LayerCompression>([
  [MEDIA_TYPES.dockerLayerGzip, 'gzip'],
  [MEDIA_TYPES.dockerLayerForeignGzip, 'gzip'],
  [MEDIA_TYPES.dockerLayerTar, 'none'],
  [MEDIA_TYPES.ociLayerTar, 'none'],
  [MEDIA_TYPES.ociLayerGzip, 'gzip'],
  [MEDIA_TYPES.ociLayerZstd, 'zstd'],
  [MEDIA_TYPES.ociLayerNondistributableTar, 'none'],
  [MEDIA_TYPES.ociLayerNondistributableGzip, 'gzip'],
  [MEDIA_TYPES.ociLayerNondistributableZstd, 'zstd'],
]);

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** An OCI image manifest or a Docker v2 schema 2 manifest (same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list (same shape). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ParsedManifest = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

/** What a container needs from an image config (docker's and OCI's `config` object). */
export interface ContainerConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  ArgsEscaped?: boolean;
  OnBuild?: string[] | null;
  Shell?: string[];
  [key: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The OCI image config (application/vnd.oci.image.config.v1+json, same as docker's). */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
  [key: string]: unknown;
}

export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.has(mediaType);
}

/** The compression a layer media type declares, or undefined for a type that is not a layer. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_COMPRESSION.get(mediaType);
}

function invalid(what: string, reason: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid ${what}: ${reason}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  const value = parseJsonBytes(bytes, what);
  if (!isObject(value)) throw invalid(what, 'not a JSON object');
  return value;
}

/** The string-valued entries of an annotations object (others are dropped). */
function stringMap(value: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Validate one descriptor (`what` names it in errors, e.g. `manifest layers[2]`). */
export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw invalid(what, 'descriptor is not an object');
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(what, 'descriptor has no mediaType');
  if (typeof digest !== 'string' || !isValidDigest(digest)) throw invalid(what, `descriptor digest ${JSON.stringify(digest)} is malformed`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(what, `descriptor size ${JSON.stringify(size)} is not a non-negative integer`);
  }
  const out: Descriptor = { mediaType, digest, size };
  if (Array.isArray(value.urls)) out.urls = value.urls.filter((u): u is string => typeof u === 'string');
  if (isObject(value.annotations)) out.annotations = stringMap(value.annotations);
  if (typeof value.artifactType === 'string') out.artifactType = value.artifactType;
  if (value.platform !== undefined) {
    const p = value.platform;
    if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      throw invalid(what, 'descriptor platform needs "os" and "architecture"');
    }
    const platform: Platform = { os: p.os, architecture: p.architecture };
    if (typeof p.variant === 'string' && p.variant !== '') platform.variant = p.variant;
    if (typeof p['os.version'] === 'string') platform['os.version'] = p['os.version'];
    out.platform = platform;
  }
  return out;
}

/**
 * Parse a manifest or index. The type comes from the document's `mediaType`, else from
 * `contentType` (the registry's Content-Type), else from its shape (OCI allows both absent).
 * `what` names the document in errors (default: by its kind).
 */
export function parseManifest(bytes: Uint8Array | string, contentType?: string, what?: string): ParsedManifest {
  const doc = parseJson(bytes, what ?? 'manifest');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  let mediaType = declared ?? (header && header !== 'application/json' ? header : undefined);
  if (mediaType === undefined) {
    if (Array.isArray(doc.manifests)) mediaType = MEDIA_TYPES.ociIndex;
    else if (isObject(doc.config)) mediaType = MEDIA_TYPES.ociManifest;
  }
  if (doc.schemaVersion === 1 || mediaType === MEDIA_TYPES.dockerSchema1 || mediaType === MEDIA_TYPES.dockerSchema1Signed) {
    throw new BerthError('NOT_IMPLEMENTED', 'docker image manifest schema 1 is not supported', {
      hint: 'the image is too old for any current engine; push it again with a recent docker or skopeo',
    });
  }
  if (mediaType === undefined) throw invalid(what ?? 'manifest', 'no mediaType and neither "manifests" nor "config"');
  if (doc.schemaVersion !== 2) throw invalid(what ?? 'manifest', `schemaVersion ${JSON.stringify(doc.schemaVersion)} is not 2`);
  const annotations = isObject(doc.annotations) ? stringMap(doc.annotations) : undefined;
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid(what ?? 'image index', '"manifests" is not a list');
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${what ?? 'image index'} manifests[${i}]`));
    const index: ImageIndex = { schemaVersion: 2, mediaType, manifests };
    if (annotations) index.annotations = annotations;
    return { kind: 'index', index };
  }
  if (isManifestMediaType(mediaType)) {
    const config = parseDescriptor(doc.config, `${what ?? 'image manifest'} config`);
    if (!Array.isArray(doc.layers)) throw invalid(what ?? 'image manifest', '"layers" is not a list');
    const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what ?? 'image manifest'} layers[${i}]`));
    const manifest: ImageManifest = { schemaVersion: 2, mediaType, config, layers };
    if (annotations) manifest.annotations = annotations;
    return { kind: 'manifest', manifest };
  }
  throw new BerthError('NOT_IMPLEMENTED', `unsupported manifest media type ${JSON.stringify(mediaType)}`, {
    hint: `berth reads ${MANIFEST_MEDIA_TYPES.join(', ')}`,
  });
}

/**
 * Check that a manifest describes a container image berth can unpack: a known config type
 * and layer types it can decompress. Foreign (Windows) layers are refused.
 */
export function checkImageManifest(manifest: ImageManifest): void {
  if (!CONFIG_TYPES.has(manifest.config.mediaType)) {
    throw new BerthError('NOT_IMPLEMENTED', `manifest config media type ${JSON.stringify(manifest.config.mediaType)} is not a container image config`, {
      hint: 'this looks like an OCI artifact (a chart, a signature, ...), not a container image',
    });
  }
  manifest.layers.forEach((layer, i) => {
    if (layer.mediaType === MEDIA_TYPES.dockerLayerForeignGzip) {
      throw new BerthError('NOT_IMPLEMENTED', `layer ${i} (${layer.digest}) is a foreign layer`, { hint: 'foreign layers belong to Windows images' });
    }
    if (layerCompression(layer.mediaType) === undefined) {
      throw new BerthError('NOT_IMPLEMENTED', `layer ${i} (${layer.digest}) has unsupported media type ${JSON.stringify(layer.mediaType)}`);
    }
  });
}

/** Parse and validate an image config; `rootfs.diff_ids` must be well-formed digests. */
const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string' && !x.includes('\0'));

/**
 * The runtime fields of an image's config, as a container is made of them: lists of strings
 * (no NUL: they become C strings), strings, objects. A hostile or broken image is refused when
 * it is pulled or loaded, naming the field, not later as a confusing error of `run`.
 */
function checkContainerConfig(c: Record<string, unknown>): void {
  for (const key of ['Env', 'Entrypoint', 'Cmd', 'OnBuild', 'Shell'] as const) {
    if (c[key] !== undefined && c[key] !== null && !isStringList(c[key])) throw invalid('image config', `config.${key} must be a list of strings`);
  }
  for (const key of ['User', 'WorkingDir', 'StopSignal'] as const) {
    const v = c[key];
    if (v !== undefined && v !== null && (typeof v !== 'string' || v.includes('\0'))) throw invalid('image config', `config.${key} must be a string`);
  }
  for (const key of ['ExposedPorts', 'Volumes', 'Labels'] as const) {
    if (c[key] !== undefined && c[key] !== null && !isObject(c[key])) throw invalid('image config', `config.${key} must be an object`);
  }
  if (isObject(c.Labels) && !Object.values(c.Labels).every((v) => typeof v === 'string')) throw invalid('image config', 'config.Labels must map names to strings');
}

export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  const doc = parseJson(bytes, 'image config');
  if (typeof doc.architecture !== 'string' || doc.architecture === '') throw invalid('image config', 'no "architecture"');
  if (typeof doc.os !== 'string' || doc.os === '') throw invalid('image config', 'no "os"');
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw invalid('image config', '"rootfs" must be {"type": "layers", "diff_ids": [...]}');
  }
  rootfs.diff_ids.forEach((id, i) => {
    if (typeof id !== 'string' || !isValidDigest(id)) throw invalid('image config', `rootfs.diff_ids[${i}] ${JSON.stringify(id)} is malformed`);
  });
  if (doc.config !== undefined && doc.config !== null && !isObject(doc.config)) throw invalid('image config', '"config" is not an object');
  if (isObject(doc.config)) checkContainerConfig(doc.config);
  if (doc.history !== undefined && !Array.isArray(doc.history)) throw invalid('image config', '"history" is not a list');
  (doc.history as unknown[] | undefined)?.forEach((entry, i) => {
    if (!isObject(entry)) throw invalid('image config', `history[${i}] is not an object`);
  });
  if (doc.created !== undefined && typeof doc.created !== 'string') throw invalid('image config', '"created" is not a string');
  return doc as unknown as ImageConfig;
}

