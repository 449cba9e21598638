import { BerthError } from '../common/index.ts';

/** Linux capability numbers from <linux/capability.h>, up to CAP_LAST_CAP (40) of Linux 5.9+. */
export const CAPABILITIES: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** Highest capability number this table knows. */
export const LAST_CAPABILITY = 40;

/** All known names, in capability-number order. */
export function capabilityNames(): string[] {
  return Object.keys(CAPABILITIES).sort((a, b) => (CAPABILITIES[a] ?? 0) - (CAPABILITIES[b] ?? 0));
}

export function isKnownCapability(name: string): boolean {
  return Object.hasOwn(CAPABILITIES, name);
}

/** The capability's number, or undefined for an unknown name. Names carry the CAP_ prefix. */
export function capabilityNumber(name: string): number | undefined {
  return Object.hasOwn(CAPABILITIES, name) ? CAPABILITIES[name] : undefined;
}

/** A hint for a misspelt name: the prefixed or upper-cased form when that one is known. */
export function capabilityHint(name: string): string | undefined {
  const upper = name.toUpperCase();
  const candidate = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return candidate !== name && isKnownCapability(candidate) ? `did you mean "${candidate}"?` : undefined;
}

/**
 * The 64-bit capability mask (bit n set for capability n) of the given names,
 * as the kernel's capget/capset split it into two 32-bit words.
 * Throws INVALID_ARGUMENT naming the first unknown capability.
 */
export function capabilityMask(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const name of names) {
    const bit = capabilityNumber(name);
    if (bit === undefined) {
      const hint = capabilityHint(name);
      throw new BerthError('INVALID_ARGUMENT', `unknown capability ${JSON.stringify(name)}`, hint === undefined ? {} : { hint });
    }
    mask |= 1n << BigInt(bit);
  }
  return mask;
}
