/**
 * overlayfs mounts as data. storage/ never mounts: the runtime mounts inside the container.
 *
 * The mount(2) data string is limited to one page (4096 bytes with its NUL), which absolute
 * layer paths exhaust after a few dozen layers. Like containers/storage, each unpacked layer
 * gets a short symlink in a link directory (`<linkDir>/<12 chars>` → the layer's dir); when
 * absolute paths do not fit, lowerdir lists those short names and the mount carries
 * `cwd: linkDir`: THE MOUNTER MUST chdir(cwd) BEFORE mount(2), because the kernel resolves
 * the relative lowerdir entries against the mounting process's working directory. (The
 * `lowerdir+=` fsconfig interface of kernels >= 6.8 would lift the limit too, but needs the
 * new mount API; the short-link scheme works with mount(2) everywhere.)
 */
import { mkdir, readlink, rm, symlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import { BerthError, isErrno } from '../common/index.ts';

/** A mount described as data, in the spirit of containerd's mount.Mount. */
export interface MountSpec {
  type: string;
  source: string;
  options: string[];
  /** When set, the mounter must chdir here before mount(2): some options are relative paths. */
  cwd?: string;
}

/** Longest mount(2) data string: one page minus the terminating NUL. */
export const MOUNT_DATA_MAX = 4095;
export const LINK_NAME_LENGTH = 12;

export interface OverlayMountOptions {
  /** Lower layer directories, TOP-MOST FIRST (overlayfs order; the image's base layer last). */
  lowerDirs: string[];
  upperDir?: string;
  workDir?: string;
  /** Short link names of the lower dirs (same order), from `createLayerLink`. */
  lowerLinks?: string[];
  /** The directory holding the short links. */
  linkDir?: string;
  /** Further overlay options, e.g. `index=off`, `userxattr`. */
  extraOptions?: string[];
}

function checkPath(what: string, path: string, isRelativeAllowed = false): void {
  if (!isRelativeAllowed && !path.startsWith('/')) {
    throw new BerthError('INVALID_ARGUMENT', `overlay ${what} ${JSON.stringify(path)} is not an absolute path`);
  }
  if (/[,:\\\n]/.test(path) || path === '') {
    throw new BerthError('INVALID_ARGUMENT', `overlay ${what} ${JSON.stringify(path)} cannot be used in mount options`, {
      hint: 'paths in overlay mount options may not contain ",", ":", "\\" or newlines',
    });
  }
}

/** The mount(2) data string of a mount; throws if it does not fit in one page. */
export function overlayMountData(mount: MountSpec): string {
  const data = mount.options.join(',');
  const length = Buffer.byteLength(data);
  if (length > MOUNT_DATA_MAX) {
    const lower = mount.options.find((o) => o.startsWith('lowerdir='));
    const layers = lower ? lower.split(':').length : 0;
    throw new BerthError(
      'FAILED_PRECONDITION',
      `overlay mount options are ${length} bytes, over the ${MOUNT_DATA_MAX}-byte limit of mount(2) (${layers} layers)`,
      { hint: 'the image has too many layers for one overlay mount; squash or rebuild it with fewer layers' },
    );
  }
  return data;
}

/**
 * An overlay mount of `lowerDirs` (top-most first) with an optional writable upper layer.
 * Absolute paths are used when they fit in a page; otherwise the short links (`lowerLinks`
 * in `linkDir`), with `cwd: linkDir`. A single lower dir without upper is a read-only bind.
 */
export function overlayMount(opts: OverlayMountOptions): MountSpec {
  const { lowerDirs, upperDir, workDir } = opts;
  if (lowerDirs.length === 0) throw new BerthError('INVALID_ARGUMENT', 'an overlay mount needs at least one lower directory');
  if ((upperDir === undefined) !== (workDir === undefined)) {
    throw new BerthError('INVALID_ARGUMENT', 'an overlay mount needs both upperDir and workDir, or neither');
  }
  lowerDirs.forEach((dir) => checkPath('lower directory', dir));
  if (upperDir !== undefined) checkPath('upper directory', upperDir);
  if (workDir !== undefined) checkPath('work directory', workDir);
  if (upperDir === undefined && lowerDirs.length === 1) {
    return { type: 'bind', source: lowerDirs[0] as string, options: ['rbind', 'ro'] };
  }
  const tail = [
    ...(upperDir !== undefined ? [`upperdir=${upperDir}`, `workdir=${workDir}`] : []),
    ...(opts.extraOptions ?? []),
  ];
  const full: MountSpec = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowerDirs.join(':')}`, ...tail] };
  if (Buffer.byteLength(full.options.join(',')) <= MOUNT_DATA_MAX) return full;
  const { lowerLinks, linkDir } = opts;
  if (lowerLinks === undefined || linkDir === undefined) {
    overlayMountData(full);
    return full;
  }
  if (lowerLinks.length !== lowerDirs.length) {
    throw new BerthError('INVALID_ARGUMENT', `overlay mount has ${lowerDirs.length} lower dirs but ${lowerLinks.length} short links`);
  }
  checkPath('link directory', linkDir);
  lowerLinks.forEach((name) => {
    checkPath('short link', name, true);
    if (name.includes('/')) throw new BerthError('INVALID_ARGUMENT', `overlay short link ${JSON.stringify(name)} must be a plain name`);
  });
  const short: MountSpec = {
    type: 'overlay',
    source: 'overlay',
    options: [`lowerdir=${lowerLinks.join(':')}`, ...tail],
    cwd: linkDir,
  };
  overlayMountData(short);
  return short;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomLinkName(): string {
  const bytes = randomBytes(LINK_NAME_LENGTH);
  let name = '';
  for (const b of bytes) name += BASE32[b & 31];
  return name;
}

/**
 * Give a layer directory a short name: a symlink `<linkDir>/<12 random chars>` pointing
 * (relatively, so the store can move) at `layerDir`. Returns the name; the caller records it
 * with the layer and passes it back as `lowerLinks`.
 */
export async function createLayerLink(layerDir: string, linkDir: string): Promise<string> {
  await mkdir(linkDir, { recursive: true });
  const target = relative(linkDir, layerDir);
  for (let attempt = 0; attempt < 10; attempt++) {
    const name = randomLinkName();
    try {
      await symlink(target, join(linkDir, name));
      return name;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
  }
  throw new BerthError('INTERNAL', `cannot create a short link for ${JSON.stringify(layerDir)} in ${JSON.stringify(linkDir)}`);
}

/** Remove a layer's short link (no error if it is already gone). */
export async function removeLayerLink(linkDir: string, name: string): Promise<void> {
  if (name.includes('/') || name === '' || name === '.' || name === '..') {
    throw new BerthError('INVALID_ARGUMENT', `invalid short link name ${JSON.stringify(name)}`);
  }
  await rm(join(linkDir, name), { force: true });
}

/** Where a short link points (relative to linkDir), or undefined if it does not exist. */
export async function readLayerLink(linkDir: string, name: string): Promise<string | undefined> {
  try {
    return await readlink(join(linkDir, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}
