import type { SeccompAction, SeccompOperator } from './types.ts';

/** Actions of runtime-spec 1.2 (libseccomp names). */
export const SECCOMP_ACTIONS: readonly SeccompAction[] = Object.freeze([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);

/** Actions that take a return value (errnoRet / defaultErrnoRet). */
export const SECCOMP_ACTIONS_WITH_ERRNO: readonly SeccompAction[] = Object.freeze(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);

export const SECCOMP_OPERATORS: readonly SeccompOperator[] = Object.freeze([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

/** SCMP_ARCH_* names with their AUDIT_ARCH_* value (<linux/audit.h>), as seccomp_data.arch holds it. */
export const SECCOMP_ARCHITECTURES: Readonly<Record<string, number>> = Object.freeze({
  SCMP_ARCH_X86: 0x4000_0003,
  SCMP_ARCH_X86_64: 0xc000_003e,
  SCMP_ARCH_X32: 0x4000_003e, // libseccomp's token; the kernel reports AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT set
  SCMP_ARCH_ARM: 0x4000_0028,
  SCMP_ARCH_AARCH64: 0xc000_00b7,
  SCMP_ARCH_MIPS: 0x0000_0008,
  SCMP_ARCH_MIPS64: 0x8000_0008,
  SCMP_ARCH_MIPS64N32: 0xa000_0008,
  SCMP_ARCH_MIPSEL: 0x4000_0008,
  SCMP_ARCH_MIPSEL64: 0xc000_0008,
  SCMP_ARCH_MIPSEL64N32: 0xe000_0008,
  SCMP_ARCH_PPC: 0x0000_0014,
  SCMP_ARCH_PPC64: 0x8000_0015,
  SCMP_ARCH_PPC64LE: 0xc000_0015,
  SCMP_ARCH_S390: 0x0000_0016,
  SCMP_ARCH_S390X: 0x8000_0016,
  SCMP_ARCH_PARISC: 0x0000_000f,
  SCMP_ARCH_PARISC64: 0x8000_000f,
  SCMP_ARCH_RISCV64: 0xc000_00f3,
  SCMP_ARCH_LOONGARCH64: 0xc000_0102,
});

/** Filter flags of runtime-spec 1.2 with their seccomp(2) values. */
export const SECCOMP_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
});

export function isSeccompAction(value: string): value is SeccompAction {
  return (SECCOMP_ACTIONS as readonly string[]).includes(value);
}

export function isSeccompOperator(value: string): value is SeccompOperator {
  return (SECCOMP_OPERATORS as readonly string[]).includes(value);
}
