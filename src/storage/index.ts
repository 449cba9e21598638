export { readTar } from './tar/index.ts';
export type { ByteChunks, ReadTarOptions, TarEntry, TarEntryType } from './tar/index.ts';
export { decompressStream, detectCompression } from './decompress.ts';
export type { ChunkSource, Compression } from './decompress.ts';
export { THREADED_MIN_BYTES, prewarmUnpack, unpackLayer } from './unpack.ts';
export type { UnpackEvent, UnpackMode, UnpackOptions, UnpackStats } from './unpack.ts';
export {
  LINK_NAME_LENGTH,
  MOUNT_DATA_MAX,
  createLayerLink,
  overlayMount,
  overlayMountData,
  readLayerLink,
  removeLayerLink,
} from './overlay.ts';
export type { MountSpec, OverlayMountOptions } from './overlay.ts';
export { vfsSnapshot } from './vfs.ts';
export type { VfsSnapshotOptions } from './vfs.ts';
export { OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE_DIR, WHITEOUT_PREFIX, isOverlayWhiteout } from './whiteout.ts';
export { LayerStore } from './layer-store.ts';
export type { LayerInfo, LayerSource, LayerUnpackOptions, LayerUnpackResult } from './layer-store.ts';
export { ownedName, ownerState, ownerTag, processStartTime } from './owner.ts';
export { UNOWNED_LEFTOVER_AGE_MS, isLeftover, listDir, removeLeftover, removeLeftovers, treeSize } from './leftovers.ts';
export type { Leftover } from './leftovers.ts';
export { MAX_WALK_DEPTH, carriedXattrs, deviceNumbers, entryKind, readFileEntry, readLinkEntry, walkMerged, walkUpper } from './layer-walk.ts';
export type { EntryKind, UpperEntry, WalkEntry } from './layer-walk.ts';
