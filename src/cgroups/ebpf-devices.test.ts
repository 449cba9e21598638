import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, rmdirSync, statfsSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError, SyscallError } from '../common/index.ts';
// Only the tests reach into native/: the library code gets the syscalls from its caller.
import * as bpf from '../native/bpf.ts';
import { DEFAULT_DEVICE_RULES } from './devices.ts';
import { attachDeviceFilter, compileDeviceFilter } from './ebpf-devices.ts';
import type { DeviceFilterSyscalls } from './ebpf-devices.ts';
import type { DeviceRule } from './resources.ts';

// ---------------------------------------------------------------------------------------------
// runc's expected programs (libcontainer/cgroups/devices/devicefilter_test.go), in the
// disassembly of cilium/ebpf, assembled here into bytes: labels become jump offsets.

const OPCODES: Record<string, number> = {
  LdXMemW: 0x61,
  AndImm32: 0x54,
  RShImm32: 0x74,
  MovImm32: 0xb4,
  MovReg32: 0xbc,
  JNEImm: 0x55,
  JNEReg: 0x5d,
  JEqImm: 0x15,
  Exit: 0x95,
};

function assemble(text: string): Uint8Array {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//'));
  const labels = new Map<string, number>();
  const insns: string[] = [];
  for (const line of lines) {
    if (line.endsWith(':')) labels.set(line.slice(0, -1), insns.length);
    else insns.push(line);
  }
  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach((line, pc) => {
    const match = /^\d+: (\w+)(.*)$/.exec(line);
    assert.ok(match, `cannot parse ${line}`);
    const [, mnemonic = '', rest = ''] = match;
    const code = OPCODES[mnemonic];
    assert.ok(code !== undefined, `unknown mnemonic ${mnemonic}`);
    const field = (name: string) => Number(new RegExp(`${name}: r?(-?\\d+)`).exec(rest)?.[1] ?? 0);
    const target = /<(.+)>/.exec(rest)?.[1];
    const off = target === undefined ? field('off') : (labels.get(target) ?? assert.fail(`no label ${target}`)) - pc - 1;
    view.setUint8(pc * 8, code);
    view.setUint8(pc * 8 + 1, (field('src') << 4) | field('dst'));
    view.setInt16(pc * 8 + 2, off, true);
    view.setInt32(pc * 8 + 4, field('imm'), true);
  });
  return bytes;
}

const PROLOGUE = `
        0: LdXMemW dst: r2 src: r1 off: 0 imm: 0
        1: AndImm32 dst: r2 imm: 65535
        2: LdXMemW dst: r3 src: r1 off: 0 imm: 0
        3: RShImm32 dst: r3 imm: 16
        4: LdXMemW dst: r4 src: r1 off: 4 imm: 0
        5: LdXMemW dst: r5 src: r1 off: 8 imm: 0
`;

const rule = (allow: boolean, type: 'a' | 'c' | 'b', major: number, minor: number, access: string): DeviceRule => ({ allow, type, major, minor, access });

// ---------------------------------------------------------------------------------------------
// A small interpreter for the instructions the compiler emits, to check what a program decides.

const ACC = { m: 1, r: 2, w: 4 } as const;

function decide(program: Uint8Array, request: { type: 'b' | 'c'; access: string; major: number; minor: number }): boolean {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const access = [...request.access].reduce((bits, c) => bits | ACC[c as keyof typeof ACC], 0);
  const ctx = [((access << 16) | (request.type === 'b' ? 1 : 2)) >>> 0, request.major >>> 0, request.minor >>> 0];
  const reg = new Array<bigint>(11).fill(0n);
  const u32 = (v: bigint) => v & 0xffffffffn;
  for (let pc = 0, steps = 0; steps < 10_000; steps++) {
    const code = view.getUint8(pc * 8);
    const dst = view.getUint8(pc * 8 + 1) & 0xf;
    const src = view.getUint8(pc * 8 + 1) >> 4;
    const off = view.getInt16(pc * 8 + 2, true);
    const imm = BigInt(view.getInt32(pc * 8 + 4, true));
    const immU64 = BigInt.asUintN(64, imm);
    const current = reg[dst] ?? 0n;
    pc++;
    switch (code) {
      case 0x61:
        reg[dst] = BigInt(ctx[off / 4] ?? assert.fail(`bad ctx offset ${off}`));
        break;
      case 0x54:
        reg[dst] = u32(current & u32(imm));
        break;
      case 0x74:
        reg[dst] = u32(current) >> imm;
        break;
      case 0xb4:
        reg[dst] = u32(imm);
        break;
      case 0xbc:
        reg[dst] = u32(reg[src] ?? 0n);
        break;
      case 0x55:
        if (current !== immU64) pc += off;
        break;
      case 0x15:
        if (current === immU64) pc += off;
        break;
      case 0x5d:
        if (current !== reg[src]) pc += off;
        break;
      case 0x95:
        return reg[0] === 1n;
      default:
        assert.fail(`unexpected opcode 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
  return assert.fail('the program did not exit');
}

describe('compileDeviceFilter', () => {
  it('emits runc\'s program for an empty rule list (deny everything)', () => {
    const expected = assemble(`${PROLOGUE}
      block-0:
        6: MovImm32 dst: r0 imm: 0
        7: Exit
    `);
    assert.deepEqual(compileDeviceFilter([]), expected);
  });

  it('emits runc\'s program byte for byte for runc\'s built-in allow-list', () => {
    const rules = [
      rule(true, 'c', -1, -1, 'm'),
      rule(true, 'b', -1, -1, 'm'),
      rule(true, 'c', 1, 3, 'rwm'),
      rule(true, 'c', 1, 8, 'rwm'),
      rule(true, 'c', 1, 7, 'rwm'),
      rule(true, 'c', 5, 0, 'rwm'),
      rule(true, 'c', 1, 5, 'rwm'),
      rule(true, 'c', 1, 9, 'rwm'),
      rule(true, 'c', 136, -1, 'rwm'),
      rule(true, 'c', 5, 2, 'rwm'),
      rule(true, 'c', 10, 200, 'rwm'),
    ];
    const expected = assemble(`${PROLOGUE}
      block-0:
        6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
        7: MovReg32 dst: r1 src: r3
        8: AndImm32 dst: r1 imm: 1
        9: JNEReg dst: r1 off: -1 src: r3 <block-1>
        10: MovImm32 dst: r0 imm: 1
        11: Exit
      block-1:
        12: JNEImm dst: r2 off: -1 imm: 2 <block-2>
        13: MovReg32 dst: r1 src: r3
        14: AndImm32 dst: r1 imm: 1
        15: JNEReg dst: r1 off: -1 src: r3 <block-2>
        16: MovImm32 dst: r0 imm: 1
        17: Exit
      block-2:
        18: JNEImm dst: r2 off: -1 imm: 2 <block-3>
        19: JNEImm dst: r4 off: -1 imm: 1 <block-3>
        20: JNEImm dst: r5 off: -1 imm: 3 <block-3>
        21: MovImm32 dst: r0 imm: 1
        22: Exit
      block-3:
        23: JNEImm dst: r2 off: -1 imm: 2 <block-4>
        24: JNEImm dst: r4 off: -1 imm: 1 <block-4>
        25: JNEImm dst: r5 off: -1 imm: 5 <block-4>
        26: MovImm32 dst: r0 imm: 1
        27: Exit
      block-4:
        28: JNEImm dst: r2 off: -1 imm: 2 <block-5>
        29: JNEImm dst: r4 off: -1 imm: 1 <block-5>
        30: JNEImm dst: r5 off: -1 imm: 7 <block-5>
        31: MovImm32 dst: r0 imm: 1
        32: Exit
      block-5:
        33: JNEImm dst: r2 off: -1 imm: 2 <block-6>
        34: JNEImm dst: r4 off: -1 imm: 1 <block-6>
        35: JNEImm dst: r5 off: -1 imm: 8 <block-6>
        36: MovImm32 dst: r0 imm: 1
        37: Exit
      block-6:
        38: JNEImm dst: r2 off: -1 imm: 2 <block-7>
        39: JNEImm dst: r4 off: -1 imm: 1 <block-7>
        40: JNEImm dst: r5 off: -1 imm: 9 <block-7>
        41: MovImm32 dst: r0 imm: 1
        42: Exit
      block-7:
        43: JNEImm dst: r2 off: -1 imm: 2 <block-8>
        44: JNEImm dst: r4 off: -1 imm: 5 <block-8>
        45: JNEImm dst: r5 off: -1 imm: 0 <block-8>
        46: MovImm32 dst: r0 imm: 1
        47: Exit
      block-8:
        48: JNEImm dst: r2 off: -1 imm: 2 <block-9>
        49: JNEImm dst: r4 off: -1 imm: 5 <block-9>
        50: JNEImm dst: r5 off: -1 imm: 2 <block-9>
        51: MovImm32 dst: r0 imm: 1
        52: Exit
      block-9:
        53: JNEImm dst: r2 off: -1 imm: 2 <block-10>
        54: JNEImm dst: r4 off: -1 imm: 10 <block-10>
        55: JNEImm dst: r5 off: -1 imm: 200 <block-10>
        56: MovImm32 dst: r0 imm: 1
        57: Exit
      block-10:
        58: JNEImm dst: r2 off: -1 imm: 2 <block-11>
        59: JNEImm dst: r4 off: -1 imm: 136 <block-11>
        60: MovImm32 dst: r0 imm: 1
        61: Exit
      block-11:
        62: MovImm32 dst: r0 imm: 0
        63: Exit
    `);
    assert.deepEqual(compileDeviceFilter(rules), expected);
  });

  it('emits runc\'s program when an "a" rule allows everything (privileged)', () => {
    const expected = assemble(`${PROLOGUE}
      block-0:
        6: MovImm32 dst: r0 imm: 1
        7: Exit
    `);
    assert.deepEqual(compileDeviceFilter([{ allow: true, type: 'a', access: 'rwm' }]), expected);
  });

  it('emits runc\'s deny block when allow-all is followed by a denied device', () => {
    const expected = assemble(`${PROLOGUE}
      block-0:
        6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
        7: JNEImm dst: r4 off: -1 imm: 8 <block-1>
        8: JNEImm dst: r5 off: -1 imm: 0 <block-1>
        9: MovImm32 dst: r0 imm: 0
        10: Exit
      block-1:
        11: MovImm32 dst: r0 imm: 1
        12: Exit
    `);
    assert.deepEqual(compileDeviceFilter([{ allow: true, type: 'a', major: -1, minor: -1, access: 'rwm' }, rule(false, 'b', 8, 0, 'rwm')]), expected);
  });

  it('drops the rules before an "a" rule, as runc\'s "weird" case expects', () => {
    const expected = assemble(`${PROLOGUE}
      block-0:
        6: JNEImm dst: r2 off: -1 imm: 1 <block-1>
        7: JNEImm dst: r4 off: -1 imm: 8 <block-1>
        8: JNEImm dst: r5 off: -1 imm: 2 <block-1>
        9: MovImm32 dst: r0 imm: 0
        10: Exit
      block-1:
        11: MovImm32 dst: r0 imm: 1
        12: Exit
    `);
    assert.deepEqual(compileDeviceFilter([rule(false, 'b', 8, 1, 'rwm'), { allow: true, type: 'a', major: -1, minor: -1, access: 'rwm' }, rule(false, 'b', 8, 2, 'rwm')]), expected);
  });

  it('denies a partial deny rule on any shared access bit (JEQ 0), where runc tests for a subset', () => {
    const expected = assemble(`${PROLOGUE}
      block-0:
        6: JNEImm dst: r2 off: -1 imm: 2 <block-1>
        7: MovReg32 dst: r1 src: r3
        8: AndImm32 dst: r1 imm: 4
        9: JEqImm dst: r1 off: -1 imm: 0 <block-1>
        10: JNEImm dst: r4 off: -1 imm: 1 <block-1>
        11: JNEImm dst: r5 off: -1 imm: 3 <block-1>
        12: MovImm32 dst: r0 imm: 0
        13: Exit
      block-1:
        14: MovImm32 dst: r0 imm: 1
        15: Exit
    `);
    const program = compileDeviceFilter([{ allow: true, type: 'a' }, rule(false, 'c', 1, 3, 'w')]);
    assert.deepEqual(program, expected);
    const dev = { type: 'c', major: 1, minor: 3 } as const;
    assert.equal(decide(program, { ...dev, access: 'r' }), true);
    assert.equal(decide(program, { ...dev, access: 'rw' }), false, 'an O_RDWR open of a write-denied device must be denied');
    assert.equal(decide(program, { ...dev, access: 'w' }), false);
    assert.equal(decide(program, { ...dev, access: '' }), true, 'access(F_OK) is not a read or a write');
    assert.equal(decide(program, { type: 'c', major: 1, minor: 5, access: 'rw' }), true);
  });

  it('allows exactly the OCI default devices and mknod when given DEFAULT_DEVICE_RULES', () => {
    const program = compileDeviceFilter(DEFAULT_DEVICE_RULES);
    const c = (major: number, minor: number, access: string) => decide(program, { type: 'c', major, minor, access });
    assert.equal(c(1, 3, 'rw'), true); // /dev/null
    assert.equal(c(1, 9, 'r'), true); // /dev/urandom
    assert.equal(c(136, 7, 'rw'), true); // /dev/pts/7
    assert.equal(c(5, 1, 'rw'), true); // /dev/console
    assert.equal(c(10, 200, 'rw'), false); // /dev/net/tun is not in the OCI default
    assert.equal(c(10, 200, 'm'), true); // but mknod of any node is
    assert.equal(c(4, 1, 'rwm'), false, 'one request asking mknod and more needs one rule granting it all');
    assert.equal(decide(program, { type: 'b', major: 8, minor: 0, access: 'r' }), false); // /dev/sda
    assert.equal(decide(program, { type: 'b', major: 8, minor: 0, access: 'm' }), true);
    assert.equal(c(1, 3, ''), true, 'access(F_OK) on an allowed device');
  });

  it('lets the last rule win when a device is granted and then partly taken back', () => {
    const program = compileDeviceFilter([{ allow: false, type: 'a' }, rule(true, 'c', 10, 200, 'rwm'), rule(false, 'c', 10, 200, 'w')]);
    assert.equal(decide(program, { type: 'c', major: 10, minor: 200, access: 'r' }), true);
    assert.equal(decide(program, { type: 'c', major: 10, minor: 200, access: 'rw' }), false);
    assert.equal(decide(program, { type: 'c', major: 10, minor: 200, access: 'm' }), true);
  });

  it('refuses a rule v1 cannot express, naming it, instead of compiling a looser program', () => {
    assert.throws(
      () => compileDeviceFilter([rule(true, 'c', 1, -1, 'rwm'), rule(false, 'c', 1, 3, 'w')]),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && /linux\.resources\.devices\[1\]/.test(err.message),
    );
    assert.throws(
      () => compileDeviceFilter([{ allow: true, type: 'x' as 'a' } /* bad input from an unvalidated caller */]),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && /devices\[0\]\.type/.test(err.message),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// attachDeviceFilter's order of calls and fd hygiene, with recorded syscalls.

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

function recordingSyscalls(options: { attached?: number[]; failAttach?: boolean; goneIds?: number[] } = {}) {
  const calls: string[] = [];
  const fds: number[] = [];
  const open = () => {
    const fd = openSync('/dev/null', 'r');
    fds.push(fd);
    return fd;
  };
  const fail = (op: string, errnoName: string) => new SyscallError({ stage: 'host', op, errno: 1, errnoName, path: 'x' });
  const syscalls: DeviceFilterSyscalls = {
    bpfProgQuery: () => {
      calls.push('query');
      return { progIds: options.attached ?? [] };
    },
    bpfProgLoadCgroupDevice: (insns) => {
      calls.push(`load ${insns.length / 8}`);
      return open();
    },
    bpfProgAttach: (_cgroupFd, _progFd, opts) => {
      calls.push(`attach flags=${opts.flags}`);
      if (options.failAttach) throw fail('bpf(BPF_PROG_ATTACH)', 'EPERM');
    },
    bpfProgGetFdById: (id) => {
      calls.push(`get ${id}`);
      return options.goneIds?.includes(id) ? undefined : open();
    },
    bpfProgDetach: () => {
      calls.push('detach');
    },
  };
  return { calls, fds, syscalls };
}

describe('attachDeviceFilter', () => {
  it('attaches the new program before detaching the old ones and closes every fd when updating', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-test-ebpf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fake = recordingSyscalls({ attached: [41, 42, 43], goneIds: [42] });
    const result = await attachDeviceFilter(dir, DEFAULT_DEVICE_RULES, fake.syscalls);
    assert.deepEqual(fake.calls, ['query', 'load 64', 'attach flags=2', 'get 41', 'detach', 'get 42', 'get 43', 'detach']);
    assert.deepEqual(result.detachedProgIds, [41, 43]);
    assert.ok(fake.fds.every((fd) => !isOpen(fd)), 'program fds must be closed');
  });

  it('closes the new program and detaches nothing when the attach fails', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-test-ebpf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fake = recordingSyscalls({ attached: [7], failAttach: true });
    await assert.rejects(attachDeviceFilter(dir, [], fake.syscalls), (err: unknown) => err instanceof SyscallError && err.errnoName === 'EPERM');
    assert.deepEqual(fake.calls, ['query', 'load 8', 'attach flags=2']);
    assert.ok(fake.fds.every((fd) => !isOpen(fd)));
  });

  it('fails before any syscall when the rules are invalid or the cgroup does not exist', async () => {
    const fake = recordingSyscalls();
    await assert.rejects(
      attachDeviceFilter('/nonexistent', [{ allow: true, type: 'c', access: 'rx' }], fake.syscalls),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT',
    );
    await assert.rejects(
      attachDeviceFilter('/nonexistent/berth-test-none', [], fake.syscalls),
      (err: unknown) => err instanceof BerthError && err.code === 'NOT_FOUND' && err.message.includes('/nonexistent/berth-test-none'),
    );
    assert.deepEqual(fake.calls, []);
  });
});

// ---------------------------------------------------------------------------------------------
// The real thing: a cgroup v2 hierarchy (run it in shared/cg2vm on a cgroup v1 host).

const CGROUP2_SUPER_MAGIC = 0x63677270;
const CGROUP_ROOT = '/sys/fs/cgroup';
const isCgroup2 = (() => {
  try {
    return statfsSync(CGROUP_ROOT).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
})();
const skipReal = process.getuid?.() !== 0 ? 'needs root' : !isCgroup2 ? `${CGROUP_ROOT} is not cgroup2 (run it in shared/cg2vm)` : false;

const SCRIPT = [
  'cat /dev/null && echo null-ok',
  'head -c1 /dev/zero >/dev/null && echo zero-ok',
  'head -c1 /dev/urandom >/dev/null 2>&1 && echo urandom-ok || echo urandom-denied',
  '(: </dev/full) 2>/dev/null && echo full-ok || echo full-denied',
].join('; ');

/** Run `script` in a child that first moves itself into `dir`; its stdout. */
function runInCgroup(dir: string, script = SCRIPT): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec sh -c '${script}'`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`sh exited ${code}: ${err}`))));
  });
}

function attachedIds(dir: string): number[] {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return bpf.bpfProgQuery(fd, { path: dir }).progIds;
  } finally {
    closeSync(fd);
  }
}

async function removeCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  if (existsSync(join(dir, 'cgroup.kill'))) writeFileSync(join(dir, 'cgroup.kill'), '1');
  const deadline = Date.now() + 10_000;
  while (readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '') {
    if (Date.now() > deadline) throw new Error(`cgroup ${dir} did not empty`);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('attachDeviceFilter on cgroup v2', { skip: skipReal }, () => {
  const onlyNullAndZero: DeviceRule[] = [
    { allow: false, access: 'rwm' },
    rule(true, 'c', -1, -1, 'm'),
    rule(true, 'b', -1, -1, 'm'),
    rule(true, 'c', 1, 3, 'rwm'),
    rule(true, 'c', 1, 5, 'rwm'),
  ];

  it('lets a process of the cgroup open only the allowed devices, and swaps the program on update', async (t) => {
    const dir = join(CGROUP_ROOT, `berth-test-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    t.after(() => removeCgroup(dir));
    assert.match(await runInCgroup(dir), /^urandom-ok$/m, 'without a program every device opens');

    const first = await attachDeviceFilter(dir, onlyNullAndZero, bpf);
    assert.deepEqual(first.detachedProgIds, []);
    const [firstId, ...others] = attachedIds(dir);
    assert.ok(firstId !== undefined && others.length === 0, 'exactly one program attached');

    const out = await runInCgroup(dir);
    assert.match(out, /^null-ok$/m);
    assert.match(out, /^zero-ok$/m);
    assert.match(out, /^urandom-denied$/m);
    assert.match(out, /^full-denied$/m, '/dev/full (1:7) is not allowed');

    // update: now /dev/urandom too; the old program goes, one program stays
    const second = await attachDeviceFilter(dir, [...onlyNullAndZero, rule(true, 'c', 1, 9, 'r')], bpf);
    assert.deepEqual(second.detachedProgIds, [firstId]);
    const after = attachedIds(dir);
    assert.equal(after.length, 1);
    assert.notEqual(after[0], firstId);
    assert.match(await runInCgroup(dir), /^urandom-ok$/m);
  });

  it('denies a read-write open through a "deny w" rule of an allow-all cgroup, and still allows reading', async (t) => {
    const dir = join(CGROUP_ROOT, `berth-test-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    t.after(() => removeCgroup(dir));
    await attachDeviceFilter(dir, [{ allow: true, type: 'a' }, rule(false, 'c', 1, 3, 'w')], bpf);
    const out = await runInCgroup(
      dir,
      [
        'cat /dev/null && echo read-ok',
        // (no 2>/dev/null here: writing /dev/null is what is denied)
        '(: <>/dev/null) && echo rdwr-ok || echo rdwr-denied',
        '(: >/dev/null) && echo write-ok || echo write-denied',
        '[ "$(head -c1 /dev/zero | wc -c)" = 1 ] && echo zero-ok',
      ].join('; '),
    );
    assert.deepEqual(out.trim().split('\n'), ['read-ok', 'rdwr-denied', 'write-denied', 'zero-ok']);
  });
});

describe('attachDeviceFilter with the real bpf(2)', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  it('compiles programs the kernel verifier accepts for allow-lists, deny-lists and partial access', () => {
    const ruleSets: DeviceRule[][] = [
      [],
      [...DEFAULT_DEVICE_RULES],
      [{ allow: true, type: 'a' }],
      [{ allow: true, type: 'a' }, rule(false, 'c', 1, 3, 'w'), rule(false, 'b', 8, -1, 'rwm'), rule(false, 'c', -1, 7, 'm')],
      [{ allow: false, type: 'a' }, rule(true, 'c', 4294967295, 4294967295, 'r'), rule(true, 'b', 259, -1, 'rw')],
    ];
    for (const rules of ruleSets) {
      const fd = bpf.bpfProgLoadCgroupDevice(compileDeviceFilter(rules), { path: 'test' });
      closeSync(fd);
    }
  });

  it('fails naming the syscall and the directory when the target is not a cgroup', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-test-ebpf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await assert.rejects(
      attachDeviceFilter(dir, [], bpf),
      (err: unknown) => err instanceof SyscallError && err.op === 'bpf(BPF_PROG_QUERY)' && err.path === dir && err.message.includes(dir),
    );
  });
});
