/**
 * The cgroup v2 device controller: v2 has no devices.allow / devices.deny, so access to device
 * nodes is decided by a BPF_PROG_TYPE_CGROUP_DEVICE eBPF program attached to the cgroup, as
 * runc (libcontainer/cgroups/devices/devicefilter.go) and crun (src/libcrun/ebpf.c) do.
 *
 * The kernel runs the program for every open, mknod and access() of a device node by a process
 * of the cgroup with a `struct bpf_cgroup_dev_ctx`:
 *
 *     u32 access_type;  // low 16 bits: BPF_DEVCG_DEV_BLOCK 1 / CHAR 2;
 *                       // high 16 bits: BPF_DEVCG_ACC_MKNOD 1 | READ 2 | WRITE 4 (0 for access(F_OK))
 *     u32 major;
 *     u32 minor;
 *
 * and allows the access when it returns 1. The program is compiled from the effective rules
 * of `compileDeviceRules` (the v1 semantics: rules in order, an "a" rule resets the default,
 * the last rule wins), which are a default plus exceptions that all have the other action, so
 * the order of the blocks does not matter; berth emits them in runc's order (major, minor,
 * type) so that the bytes are runc's:
 *
 *     r2 = ctx->access_type & 0xffff; r3 = ctx->access_type >> 16; r4 = ctx->major; r5 = ctx->minor
 *     block-i:  if r2 != type goto block-i+1
 *               [access check, unless the rule is rwm]
 *               [if r4 != major goto block-i+1]     (absent for a "*" major)
 *               [if r5 != minor goto block-i+1]     (absent for a "*" minor)
 *               r0 = action; exit
 *     block-n:  r0 = default; exit
 *
 * The access check of an allow rule is runc's and crun's: the request must be a subset of the
 * rule (`r1 = r3 & access; if r1 != r3 goto next`), so access(F_OK) (request 0) passes. A deny
 * rule (a deny-list under "a" allow) matches as soon as the request shares one access bit with
 * it (`r1 = r3 & access; if r1 == 0 goto next`), as v1's devices.deny does: runc and crun use
 * the subset test there too, which lets an O_RDWR open through a "deny w" rule.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { BerthError, SyscallError, isErrno } from '../common/index.ts';
import { compileDeviceRules } from './devices.ts';
import type { DeviceRuleEntry } from './devices.ts';
import type { DeviceRule } from './resources.ts';

export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;
export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;

/** The license the program is loaded with (runc's). */
export const DEVICE_FILTER_LICENSE = 'Apache';

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const BPF_LDX_MEM_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const BPF_ALU32_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_ALU32_RSH_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const BPF_ALU32_MOV_K = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const BPF_ALU32_MOV_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const BPF_JMP_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JMP_JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const BPF_JMP_JNE_X = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const BPF_EXIT = 0x95; // BPF_JMP | BPF_EXIT

const R0 = 0;
const R1 = 1;
const R2 = 2;
const R3 = 3;
const R4 = 4;
const R5 = 5;

/** One instruction before encoding; `next` marks a jump to the start of the following block. */
interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  isJumpToNext?: boolean;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });
const jumpToNext = (code: number, dst: number, src: number, imm: number): Insn => ({ code, dst, src, off: 0, imm, isJumpToNext: true });

function accessBits(access: string): number {
  let bits = 0;
  if (access.includes('r')) bits |= BPF_DEVCG_ACC_READ;
  if (access.includes('w')) bits |= BPF_DEVCG_ACC_WRITE;
  if (access.includes('m')) bits |= BPF_DEVCG_ACC_MKNOD;
  return bits;
}

const ACC_ALL = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

/** One block: match the rule, then return its action. */
function ruleBlock(rule: DeviceRuleEntry): Insn[] {
  if (rule.type === 'a') throw new BerthError('INTERNAL', 'an "a" device rule cannot be an exception of the compiled rule set');
  const out: Insn[] = [jumpToNext(BPF_JMP_JNE_K, R2, 0, rule.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK)];
  const access = accessBits(rule.access);
  if (access !== ACC_ALL) {
    out.push(insn(BPF_ALU32_MOV_X, R1, R3, 0, 0), insn(BPF_ALU32_AND_K, R1, 0, 0, access));
    // allow: the whole request must be granted; deny: any requested bit that is denied denies.
    out.push(rule.allow ? jumpToNext(BPF_JMP_JNE_X, R1, R3, 0) : jumpToNext(BPF_JMP_JEQ_K, R1, 0, 0));
  }
  // Device numbers are at most 32 bits (normalizeDeviceRule); `| 0` gives the imm32 bits, as
  // runc's int32() does. A number above 2^31 cannot match (the kernel's are 12/20 bits).
  if (rule.major >= 0) out.push(jumpToNext(BPF_JMP_JNE_K, R4, 0, rule.major | 0));
  if (rule.minor >= 0) out.push(jumpToNext(BPF_JMP_JNE_K, R5, 0, rule.minor | 0));
  out.push(insn(BPF_ALU32_MOV_K, R0, 0, 0, rule.allow ? 1 : 0), insn(BPF_EXIT, 0, 0, 0, 0));
  return out;
}

/** runc's order of the emulator's rules: by major, then minor ("*" first), then type (b before c). */
function compareRules(a: DeviceRuleEntry, b: DeviceRuleEntry): number {
  return a.major - b.major || a.minor - b.minor || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0);
}

function encode(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach((each, i) => {
    view.setUint8(i * 8, each.code);
    view.setUint8(i * 8 + 1, ((each.src & 0xf) << 4) | (each.dst & 0xf));
    view.setInt16(i * 8 + 2, each.off, true);
    view.setInt32(i * 8 + 4, each.imm, true);
  });
  return bytes;
}

/**
 * The BPF_CGROUP_DEVICE program (8 bytes per instruction, little endian) that enforces `rules`
 * (OCI `linux.resources.devices`, applied in order from deny-all). Rules v1 cannot express
 * either fail here with INVALID_ARGUMENT naming the rule, before anything is loaded.
 */
export function compileDeviceFilter(rules: readonly DeviceRule[]): Uint8Array {
  const compiled = compileDeviceRules(rules);
  const insns: Insn[] = [
    insn(BPF_LDX_MEM_W, R2, R1, 0, 0), // r2 = access_type
    insn(BPF_ALU32_AND_K, R2, 0, 0, 0xffff), //   & 0xffff: device type
    insn(BPF_LDX_MEM_W, R3, R1, 0, 0), // r3 = access_type
    insn(BPF_ALU32_RSH_K, R3, 0, 0, 16), //   >> 16: requested access
    insn(BPF_LDX_MEM_W, R4, R1, 4, 0), // r4 = major
    insn(BPF_LDX_MEM_W, R5, R1, 8, 0), // r5 = minor
  ];
  for (const rule of [...compiled.rules].sort(compareRules)) {
    if (rule.allow === compiled.defaultAllow) throw new BerthError('INTERNAL', 'a compiled device exception has the default action');
    const block = ruleBlock(rule);
    const nextBlock = insns.length + block.length;
    block.forEach((each, i) => {
      if (each.isJumpToNext) each.off = nextBlock - (insns.length + i + 1);
    });
    insns.push(...block);
  }
  insns.push(insn(BPF_ALU32_MOV_K, R0, 0, 0, compiled.defaultAllow ? 1 : 0), insn(BPF_EXIT, 0, 0, 0, 0));
  return encode(insns);
}

/**
 * The bpf(2) calls attachDeviceFilter makes. The cgroups layer does not import native/
 * (DESIGN.md), so the caller passes them: `src/native/bpf.ts` has exactly these functions.
 */
export interface DeviceFilterSyscalls {
  bpfProgLoadCgroupDevice(insns: Uint8Array, options: { license?: string; path?: string }): number;
  bpfProgAttach(cgroupFd: number, progFd: number, options: { flags?: number; path?: string }): void;
  bpfProgDetach(cgroupFd: number, progFd: number, options: { path?: string }): void;
  bpfProgQuery(cgroupFd: number, options: { path?: string }): { progIds: number[] };
  bpfProgGetFdById(progId: number, options: { path?: string }): number | undefined;
}

const BPF_F_ALLOW_MULTI = 2;

export interface AttachDeviceFilterResult {
  /** Ids of the programs that were attached before and are detached now. */
  detachedProgIds: number[];
}

/**
 * Enforce `rules` on the cgroup v2 directory `cgroupDir`: compile, load and attach the program
 * (BPF_F_ALLOW_MULTI), then detach the device programs attached before (on `update`), as
 * runc does. While both are attached the kernel needs both to allow an access, so a swap never
 * opens access that neither rule set allows. On failure the new program is not left attached
 * (the old ones still are); if detaching an old one fails, the new one stays attached with it
 * (stricter than either, never looser) and the error says which. No fd is left open.
 */
export async function attachDeviceFilter(cgroupDir: string, rules: readonly DeviceRule[], bpf: DeviceFilterSyscalls): Promise<AttachDeviceFilterResult> {
  const insns = compileDeviceFilter(rules);
  let dirFd: number;
  try {
    dirFd = openSync(cgroupDir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `cgroup ${cgroupDir} does not exist`, { cause: err });
    if (isErrno(err, 'ENOTDIR')) throw new BerthError('INVALID_ARGUMENT', `cgroup ${cgroupDir} is not a directory`, { cause: err });
    throw new BerthError(isErrno(err, 'EACCES', 'EPERM') ? 'PERMISSION_DENIED' : 'INTERNAL', `cannot open cgroup ${cgroupDir}: ${(err as Error).message}`, { cause: err });
  }
  const path = cgroupDir;
  try {
    const before = bpf.bpfProgQuery(dirFd, { path }).progIds;
    const progFd = bpf.bpfProgLoadCgroupDevice(insns, { license: DEVICE_FILTER_LICENSE, path });
    try {
      bpf.bpfProgAttach(dirFd, progFd, { flags: BPF_F_ALLOW_MULTI, path });
    } finally {
      closeSync(progFd); // attached, the cgroup holds the program; otherwise this frees it
    }
    const detachedProgIds: number[] = [];
    for (const progId of before) {
      const oldFd = bpf.bpfProgGetFdById(progId, { path });
      if (oldFd === undefined) continue; // gone meanwhile
      try {
        bpf.bpfProgDetach(dirFd, oldFd, { path });
        detachedProgIds.push(progId);
      } catch (err) {
        // ENOENT: someone else detached it meanwhile; anything else is a real failure.
        if (!(err instanceof SyscallError && err.errnoName === 'ENOENT')) throw err;
      } finally {
        closeSync(oldFd);
      }
    }
    return { detachedProgIds };
  } finally {
    closeSync(dirFd);
  }
}
