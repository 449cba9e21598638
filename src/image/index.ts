export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  formatReference,
  isValidDigest,
  parseReference,
} from './reference.ts';
export type { ImageReference, ParseReferenceOptions } from './reference.ts';
export { ContentStore, digestHex, sha256Digest } from './content-store.ts';
export { MAX_ARCHIVE_METADATA_BYTES, MAX_CONFIG_BYTES, MAX_JSON_DEPTH, MAX_MANIFEST_BYTES } from './limits.ts';
export type { BlobSource, ExpectedBlob, FetchFrom, IngestOptions, ResumableIngestOptions } from './content-store.ts';
export {
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPES,
  checkImageManifest,
  isIndexMediaType,
  isManifestMediaType,
  layerCompression,
  parseDescriptor,
  parseImageConfig,
  parseManifest,
} from './manifest.ts';
export type {
  ContainerConfig,
  Descriptor,
  HistoryEntry,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  LayerCompression,
  ParsedManifest,
} from './manifest.ts';
export { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformRank, selectPlatform } from './platform.ts';
export type { Platform } from './platform.ts';
export * from './registry/index.ts';
export { pullImage } from './pull.ts';
export type { LayerStatus, PullEvent, PullOptions, PulledImage } from './pull.ts';
export * from './archive/index.ts';
