import { BerthError } from '../common/index.ts';

// mount(2) flags, values of <sys/mount.h> / <linux/mount.h>.
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_I_VERSION = 1 << 23;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;

// mount_setattr(2) attributes, values of <linux/mount.h>.
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR__ATIME = 0x70;
export const MOUNT_ATTR_RELATIME = 0x0;
export const MOUNT_ATTR_NOATIME = 0x10;
export const MOUNT_ATTR_STRICTATIME = 0x20;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_IDMAP = 0x10_0000;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x20_0000;

/** What one `mounts[].options` list means to mount(2) and mount_setattr(2). */
export interface ParsedMountOptions {
  /** MS_* flags to pass to mount(2) (includes MS_BIND and MS_REC for bind/rbind). */
  flags: number;
  /** MS_* flags an option asked to clear (e.g. "rw" clears MS_RDONLY); needed for remounts. */
  clearFlags: number;
  /** Propagation changes in the order given, each a separate mount(2) call: MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE, with MS_REC for the "r" forms. */
  propagation: number[];
  /** Options that are not flags, comma-joined in the order given: the filesystem's data string. */
  data: string;
  isBind: boolean;
  /** "rbind": the bind is recursive (MS_REC is in flags). */
  isRecursive: boolean;
  /** MOUNT_ATTR_* to set recursively with mount_setattr(AT_RECURSIVE) ("rro", "rnosuid", …). */
  recAttrSet: number;
  /** MOUNT_ATTR_* to clear recursively ("rrw", "rsuid", …; MOUNT_ATTR__ATIME with any atime setting). */
  recAttrClr: number;
  /** "tmpcopyup": copy the lower directory's content into a new tmpfs. */
  isTmpCopyUp: boolean;
  /** "idmap" / "ridmap": make an id-mapped mount. */
  idmap?: { recursive: boolean };
}

interface FlagOption {
  clear: boolean;
  flag: number;
}

const FLAG_OPTIONS: ReadonlyMap<string, FlagOption> = new Map([
  ['async', { clear: true, flag: MS_SYNCHRONOUS }],
  ['atime', { clear: true, flag: MS_NOATIME }],
  ['bind', { clear: false, flag: MS_BIND }],
  ['dev', { clear: true, flag: MS_NODEV }],
  ['diratime', { clear: true, flag: MS_NODIRATIME }],
  ['dirsync', { clear: false, flag: MS_DIRSYNC }],
  ['exec', { clear: true, flag: MS_NOEXEC }],
  ['iversion', { clear: false, flag: MS_I_VERSION }],
  ['lazytime', { clear: false, flag: MS_LAZYTIME }],
  ['loud', { clear: true, flag: MS_SILENT }],
  ['mand', { clear: false, flag: MS_MANDLOCK }],
  ['noatime', { clear: false, flag: MS_NOATIME }],
  ['nodev', { clear: false, flag: MS_NODEV }],
  ['nodiratime', { clear: false, flag: MS_NODIRATIME }],
  ['noexec', { clear: false, flag: MS_NOEXEC }],
  ['noiversion', { clear: true, flag: MS_I_VERSION }],
  ['nolazytime', { clear: true, flag: MS_LAZYTIME }],
  ['nomand', { clear: true, flag: MS_MANDLOCK }],
  ['norelatime', { clear: true, flag: MS_RELATIME }],
  ['nostrictatime', { clear: true, flag: MS_STRICTATIME }],
  ['nosuid', { clear: false, flag: MS_NOSUID }],
  ['nosymfollow', { clear: false, flag: MS_NOSYMFOLLOW }],
  ['rbind', { clear: false, flag: MS_BIND | MS_REC }],
  ['relatime', { clear: false, flag: MS_RELATIME }],
  ['remount', { clear: false, flag: MS_REMOUNT }],
  ['ro', { clear: false, flag: MS_RDONLY }],
  ['rw', { clear: true, flag: MS_RDONLY }],
  ['silent', { clear: false, flag: MS_SILENT }],
  ['strictatime', { clear: false, flag: MS_STRICTATIME }],
  ['suid', { clear: true, flag: MS_NOSUID }],
  ['sync', { clear: false, flag: MS_SYNCHRONOUS }],
  ['symfollow', { clear: true, flag: MS_NOSYMFOLLOW }],
]);

const PROPAGATION_OPTIONS: ReadonlyMap<string, number> = new Map([
  ['private', MS_PRIVATE],
  ['rprivate', MS_PRIVATE | MS_REC],
  ['shared', MS_SHARED],
  ['rshared', MS_SHARED | MS_REC],
  ['slave', MS_SLAVE],
  ['rslave', MS_SLAVE | MS_REC],
  ['unbindable', MS_UNBINDABLE],
  ['runbindable', MS_UNBINDABLE | MS_REC],
]);

const RECURSIVE_ATTR_OPTIONS: ReadonlyMap<string, FlagOption> = new Map([
  ['rro', { clear: false, flag: MOUNT_ATTR_RDONLY }],
  ['rrw', { clear: true, flag: MOUNT_ATTR_RDONLY }],
  ['rnosuid', { clear: false, flag: MOUNT_ATTR_NOSUID }],
  ['rsuid', { clear: true, flag: MOUNT_ATTR_NOSUID }],
  ['rnodev', { clear: false, flag: MOUNT_ATTR_NODEV }],
  ['rdev', { clear: true, flag: MOUNT_ATTR_NODEV }],
  ['rnoexec', { clear: false, flag: MOUNT_ATTR_NOEXEC }],
  ['rexec', { clear: true, flag: MOUNT_ATTR_NOEXEC }],
  ['rnodiratime', { clear: false, flag: MOUNT_ATTR_NODIRATIME }],
  ['rdiratime', { clear: true, flag: MOUNT_ATTR_NODIRATIME }],
  ['rrelatime', { clear: false, flag: MOUNT_ATTR_RELATIME }],
  ['rnorelatime', { clear: true, flag: MOUNT_ATTR_RELATIME }],
  ['rnoatime', { clear: false, flag: MOUNT_ATTR_NOATIME }],
  ['ratime', { clear: true, flag: MOUNT_ATTR_NOATIME }],
  ['rstrictatime', { clear: false, flag: MOUNT_ATTR_STRICTATIME }],
  ['rnostrictatime', { clear: true, flag: MOUNT_ATTR_STRICTATIME }],
  ['rnosymfollow', { clear: false, flag: MOUNT_ATTR_NOSYMFOLLOW }],
  ['rsymfollow', { clear: true, flag: MOUNT_ATTR_NOSYMFOLLOW }],
]);

/** Options that set nothing: util-linux ignores "defaults" and so do we. */
const NO_OP_OPTIONS: ReadonlySet<string> = new Set(['defaults']);

/**
 * Parse OCI mount options the way runc's parseMountOptions does. Unknown options are
 * not errors: they are filesystem data ("size=64k", "mode=755", "newinstance", …).
 * Later options win over earlier ones ("ro,rw" is read-write).
 */
export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  let clearFlags = 0;
  let recAttrSet = 0;
  let recAttrClr = 0;
  let isTmpCopyUp = false;
  let idmap: { recursive: boolean } | undefined;
  const propagation: number[] = [];
  const data: string[] = [];

  for (const option of options) {
    const flagOption = FLAG_OPTIONS.get(option);
    const propagationFlags = PROPAGATION_OPTIONS.get(option);
    const attrOption = RECURSIVE_ATTR_OPTIONS.get(option);
    if (flagOption !== undefined) {
      if (flagOption.clear) {
        flags &= ~flagOption.flag;
        clearFlags |= flagOption.flag;
      } else {
        flags |= flagOption.flag;
        clearFlags &= ~flagOption.flag;
      }
    } else if (propagationFlags !== undefined) {
      propagation.push(propagationFlags);
    } else if (attrOption !== undefined) {
      if (attrOption.clear) {
        recAttrClr |= attrOption.flag;
        recAttrSet &= ~attrOption.flag;
      } else {
        recAttrSet |= attrOption.flag;
        recAttrClr &= ~attrOption.flag;
        // mount_setattr(2): an access-time setting must also clear MOUNT_ATTR__ATIME.
        if ((attrOption.flag & MOUNT_ATTR__ATIME) === attrOption.flag) recAttrClr |= MOUNT_ATTR__ATIME;
      }
    } else if (option === 'tmpcopyup') {
      isTmpCopyUp = true;
    } else if (option === 'idmap') {
      idmap = { recursive: false };
    } else if (option === 'ridmap') {
      idmap = { recursive: true };
    } else if (!NO_OP_OPTIONS.has(option)) {
      data.push(option);
    }
  }

  const parsed: ParsedMountOptions = {
    flags,
    clearFlags,
    propagation,
    data: data.join(','),
    isBind: (flags & MS_BIND) !== 0,
    isRecursive: (flags & MS_BIND) !== 0 && (flags & MS_REC) !== 0,
    recAttrSet,
    recAttrClr,
    isTmpCopyUp,
  };
  if (idmap !== undefined) parsed.idmap = idmap;
  return parsed;
}

/** The propagation names `linux.rootfsPropagation` accepts (the spec's four, plus runc's "r" forms). */
export const ROOTFS_PROPAGATIONS: readonly string[] = Object.freeze([...PROPAGATION_OPTIONS.keys()]);

/** Whether `name` is a valid `linux.rootfsPropagation` value. */
export function isRootfsPropagation(name: string): boolean {
  return PROPAGATION_OPTIONS.has(name);
}

/**
 * `linux.rootfsPropagation` → MS_* flags for mount("", "/", NULL, flags, NULL).
 * Throws INVALID_ARGUMENT for an unknown name.
 */
export function parseRootfsPropagation(name: string): number {
  const flags = PROPAGATION_OPTIONS.get(name);
  if (flags === undefined) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `linux.rootfsPropagation: unknown propagation ${JSON.stringify(name)} (expected one of ${ROOTFS_PROPAGATIONS.join(', ')})`,
    );
  }
  return flags;
}

/** Every option name this parser gives a meaning to (for `features`), sorted. */
export function knownMountOptions(): string[] {
  return [
    ...FLAG_OPTIONS.keys(),
    ...PROPAGATION_OPTIONS.keys(),
    ...RECURSIVE_ATTR_OPTIONS.keys(),
    'tmpcopyup',
    'idmap',
    'ridmap',
    ...NO_OP_OPTIONS,
  ].sort();
}
