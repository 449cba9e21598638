/** Names of MS_* mount flags, for the plan's explanation. */
const MOUNT_FLAG_NAMES: [number, string][] = [
  [1, 'MS_RDONLY'],
  [2, 'MS_NOSUID'],
  [4, 'MS_NODEV'],
  [8, 'MS_NOEXEC'],
  [16, 'MS_SYNCHRONOUS'],
  [32, 'MS_REMOUNT'],
  [64, 'MS_MANDLOCK'],
  [128, 'MS_DIRSYNC'],
  [256, 'MS_NOSYMFOLLOW'],
  [1024, 'MS_NOATIME'],
  [2048, 'MS_NODIRATIME'],
  [4096, 'MS_BIND'],
  [8192, 'MS_MOVE'],
  [16384, 'MS_REC'],
  [32768, 'MS_SILENT'],
  [1 << 17, 'MS_UNBINDABLE'],
  [1 << 18, 'MS_PRIVATE'],
  [1 << 19, 'MS_SLAVE'],
  [1 << 20, 'MS_SHARED'],
  [1 << 21, 'MS_RELATIME'],
  [1 << 23, 'MS_I_VERSION'],
  [1 << 24, 'MS_STRICTATIME'],
  [1 << 25, 'MS_LAZYTIME'],
];

export function mountFlagNames(flags: number): string[] {
  return MOUNT_FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

const CLONE_NAMES: [number, string][] = [
  [0x0002_0000, 'CLONE_NEWNS'],
  [0x0200_0000, 'CLONE_NEWCGROUP'],
  [0x0400_0000, 'CLONE_NEWUTS'],
  [0x0800_0000, 'CLONE_NEWIPC'],
  [0x1000_0000, 'CLONE_NEWUSER'],
  [0x2000_0000, 'CLONE_NEWPID'],
  [0x4000_0000, 'CLONE_NEWNET'],
  [0x0000_0080, 'CLONE_NEWTIME'],
];

export function cloneFlagNames(flags: number): string[] {
  return CLONE_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}
