/**
 * Compiled seccomp filters, kept. libseccomp turns a profile like docker's default (360 rules,
 * three architectures) into BPF in ~10 ms, on every container; the BPF is the same every time
 * for the same profile, berth-init and kernel. So the first container compiles it
 * (`berth-init seccomp-bpf`) and this cache keeps it; later ones load the BPF as it is
 * (OP_SECCOMP_BPF), as crun does with its own cache.
 *
 * A cache file is found by a short hash of its key, and holds the key itself, compared whole
 * before its BPF is used: a hash collision can never load another profile's filter. It lives in
 * the runtime's state dir (root's alone), so a reboot (a new kernel) clears it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { encodePlan, type PlanStep } from '../native/protocol.ts';
import { initBinaryPath } from '../native/init-binary.ts';
import type { Seccomp } from '../oci/index.ts';

/** What makes a compiled filter valid: the profile, the berth-init that compiled it, the kernel. */
function keyOf(seccomp: Seccomp): string {
  const init = statSync(initBinaryPath());
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // no procfs: the key has no kernel
  }
  // the program does not depend on where the listener is (a per-container path) or what it is told
  const { listenerPath: _path, listenerMetadata: _metadata, ...program } = seccomp;
  return JSON.stringify({ v: 2, init: `${init.ino}:${init.size}:${init.mtimeMs}`, kernel, seccomp: program });
}

/** Two 32-bit FNV-1a hashes of the key, as a file name (not a check: the key is compared whole). */
function nameOf(key: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ key.length;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** The struct sock_filter[] berth-init printed, kept as its bytes (the plan carries them as they are). */
function toProgram(bpf: Buffer): Buffer {
  if (bpf.length === 0 || bpf.length % 8 !== 0) throw new BerthError('INTERNAL', `a compiled seccomp filter of ${bpf.length} bytes is not whole BPF instructions`);
  return bpf;
}

/** The BPF libseccomp makes of a plan's seccomp-init, -arch and -rule steps (`berth-init seccomp-bpf`). */
function compileBpf(steps: PlanStep[]): Buffer {
  try {
    return execFileSync(initBinaryPath(), ['seccomp-bpf'], { input: encodePlan(steps), stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 22 });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new BerthError('INVALID_ARGUMENT', `linux.seccomp: the filter cannot be compiled: ${stderr || (err as Error).message}`);
  }
}

/** Compiled now and not kept (a runtime without a cache). */
export function compileSeccomp(steps: PlanStep[]): CompiledSeccomp {
  return { program: toProgram(compileBpf(steps)), cached: false };
}

export interface CompiledSeccomp {
  /** struct sock_filter[]: 8 bytes an instruction */
  program: Buffer;
  /** Found in the cache (not compiled for this container). */
  cached: boolean;
}

export class SeccompCache {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * The BPF of `seccomp`, from the cache or compiled now from `steps` (its seccomp-init, -arch
   * and -rule steps) and kept.
   */
  program(seccomp: Seccomp, steps: () => PlanStep[]): CompiledSeccomp {
    const key = keyOf(seccomp);
    const path = join(this.dir, `${nameOf(key)}.bpf`);
    try {
      const file = readFileSync(path);
      const keyLength = file.readUInt32LE(0);
      if (file.toString('utf8', 4, 4 + keyLength) === key) return { program: toProgram(file.subarray(4 + keyLength)), cached: true };
    } catch {
      // not compiled yet (or unreadable): compiled below
    }
    const bpf = compileBpf(steps());
    const program = toProgram(bpf);
    const head = Buffer.alloc(4);
    const keyBytes = Buffer.from(key);
    head.writeUInt32LE(keyBytes.length, 0);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([head, keyBytes, bpf]), { mode: 0o600 });
      renameSync(tmp, path);
    } catch {
      // a cache that cannot be written costs the next container a compile, nothing more
    }
    return { program, cached: false };
  }
}
