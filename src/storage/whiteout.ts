/**
 * Whiteouts: how a layer deletes what lower layers hold.
 *
 * In a layer tar (OCI/docker, AUFS convention): `.wh.<name>` deletes `<name>`, and
 * `.wh..wh..opq` in a directory hides everything lower layers have in it.
 * On disk for overlayfs: a whiteout is a character device 0:0 named `<name>`, an opaque
 * directory carries the xattr `trusted.overlay.opaque=y`.
 * In a vfs copy (a full copy of the lower layers): the named path is deleted, an opaque
 * directory is emptied of what lower layers put there.
 */
import { lchownSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { S_IFCHR, lsetxattr, mknod } from '../native/sys.ts';
import { refuse, type LayerTree } from './layer-tree.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE_DIR = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export type WhiteoutKind = 'opaque' | 'whiteout' | 'meta' | undefined;

/** What a base name means: an opaque marker, a whiteout, AUFS metadata (skipped), or a plain name. */
export function classifyName(base: string): WhiteoutKind {
  if (base === WHITEOUT_OPAQUE_DIR) return 'opaque';
  if (base.startsWith(WHITEOUT_META_PREFIX)) return 'meta';
  if (base.startsWith(WHITEOUT_PREFIX)) return 'whiteout';
  return undefined;
}

/** True for an overlayfs whiteout: a character device with device number 0:0. */
export function isOverlayWhiteout(st: Stats | { isCharacterDevice(): boolean; rdev: number | bigint }): boolean {
  return st.isCharacterDevice() && BigInt(st.rdev) === 0n;
}

/** Create the overlayfs whiteout for `parts` (replacing whatever this layer has there). */
export function writeOverlayWhiteout(tree: LayerTree, parts: string[], owner: { uid: number; gid: number }): string {
  tree.remove(parts);
  const abs = tree.abs(parts);
  mknod(abs, S_IFCHR | 0o000, 0, 0);
  lchownSync(abs, owner.uid, owner.gid);
  tree.written.add(parts.join('/'));
  return abs;
}

/** Mark directory `parts` opaque for overlayfs. */
export function markOverlayOpaque(tree: LayerTree, parts: string[]): void {
  const abs = tree.ensureDir(parts);
  lsetxattr(abs, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
}

/** vfs: empty directory `parts` of everything this layer did not itself write. */
export function emptyForOpaque(tree: LayerTree, parts: string[]): void {
  const abs = tree.ensureDir(parts);
  const rel = parts.join('/');
  tree.settle(undefined); // files still landing are this layer's: let them land first
  for (const child of readdirSync(abs)) {
    const childRel = rel === '' ? child : `${rel}/${child}`;
    if (tree.written.has(childRel)) continue;
    rmSync(join(abs, child), { recursive: true, force: true });
    tree.forget(childRel);
  }
}

/** The name a whiteout base name deletes, refusing names that would reach anything else. */
export function whiteoutTarget(base: string): string {
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw refuse(`invalid whiteout ${JSON.stringify(base)}: it names no file in its directory`);
  }
  return name;
}
