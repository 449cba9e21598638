/** Resource numbers of setrlimit(2) on Linux x86_64 (<asm-generic/resource.h>). */
export const RLIMITS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** "unlimited" for setrlimit: (rlim_t)-1. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/** Known names in resource-number order. */
export function rlimitNames(): string[] {
  return Object.keys(RLIMITS).sort((a, b) => (RLIMITS[a] ?? 0) - (RLIMITS[b] ?? 0));
}

/** The resource number of an RLIMIT_* name, or undefined when unknown. */
export function rlimitNumber(name: string): number | undefined {
  return Object.hasOwn(RLIMITS, name) ? RLIMITS[name] : undefined;
}
