import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdirSync, openSync, readlinkSync, rmdirSync, statfsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError, SyscallError } from '../common/index.ts';
import {
  BPF_F_ALLOW_MULTI,
  bpfProgAttach,
  bpfProgDetach,
  bpfProgGetFdById,
  bpfProgLoadCgroupDevice,
  bpfProgQuery,
} from './bpf.ts';

const skipRoot = process.getuid?.() !== 0 ? 'needs root' : false;
const isCgroup2 = (() => {
  try {
    return statfsSync('/sys/fs/cgroup').type === 0x63677270;
  } catch {
    return false;
  }
})();
const skipCgroup2 = skipRoot || (!isCgroup2 && '/sys/fs/cgroup is not cgroup2 (run it in shared/cg2vm)');

/** r0 = `allow`; exit — the smallest valid device program. */
function constantProgram(allow: boolean): Uint8Array {
  return new Uint8Array([0xb4, 0x00, 0, 0, allow ? 1 : 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
}

describe('bpf', () => {
  it('refuses a program whose length is not whole instructions, before any syscall', () => {
    assert.throws(() => bpfProgLoadCgroupDevice(new Uint8Array(12)), (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT');
    assert.throws(() => bpfProgLoadCgroupDevice(new Uint8Array(0)), (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT');
  });

  it('loads a device program and returns a bpf-prog fd when root', { skip: skipRoot }, () => {
    const fd = bpfProgLoadCgroupDevice(constantProgram(true));
    try {
      assert.equal(readlinkSync(`/proc/self/fd/${fd}`), 'anon_inode:bpf-prog');
    } finally {
      closeSync(fd);
    }
  });

  it('puts the verifier log in the error when the kernel refuses the program', { skip: skipRoot }, () => {
    const exitOnly = new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]); // r0 never set
    assert.throws(
      () => bpfProgLoadCgroupDevice(exitOnly, { path: '/sys/fs/cgroup/berth/x' }),
      (err: unknown) =>
        err instanceof SyscallError &&
        err.op === 'bpf(BPF_PROG_LOAD)' &&
        err.errnoName === 'EACCES' &&
        err.message.includes('"/sys/fs/cgroup/berth/x"') &&
        /verifier log:[\s\S]*R0 !read_ok/.test(err.message),
    );
  });

  it('fails with EBADF naming the path when the target is not a cgroup', { skip: skipRoot }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-test-bpf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    t.after(() => closeSync(fd));
    assert.throws(() => bpfProgQuery(fd, { path: dir }), (err: unknown) => err instanceof SyscallError && err.errnoName === 'EBADF' && err.path === dir);
    const prog = bpfProgLoadCgroupDevice(constantProgram(true));
    try {
      assert.throws(() => bpfProgAttach(fd, prog, { path: dir }), (err: unknown) => err instanceof SyscallError && err.op === 'bpf(BPF_PROG_ATTACH)' && err.path === dir);
    } finally {
      closeSync(prog);
    }
  });

  it('returns undefined for a program id that does not exist', { skip: skipRoot }, () => {
    assert.equal(bpfProgGetFdById(0x7ffffff0), undefined);
  });

  it('attaches, lists and detaches programs of a cgroup v2 directory', { skip: skipCgroup2 }, (t) => {
    const dir = join('/sys/fs/cgroup', `berth-test-bpf-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    t.after(() => rmdirSync(dir));
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    t.after(() => closeSync(fd));
    assert.deepEqual(bpfProgQuery(fd, { path: dir }), { progIds: [], attachFlags: 0 });

    const progs = [bpfProgLoadCgroupDevice(constantProgram(true)), bpfProgLoadCgroupDevice(constantProgram(true))];
    try {
      for (const prog of progs) bpfProgAttach(fd, prog, { path: dir });
      const listed = bpfProgQuery(fd, { path: dir });
      assert.equal(listed.progIds.length, 2);
      assert.equal(listed.attachFlags, BPF_F_ALLOW_MULTI);

      // the ids lead back to the programs: detach the first through its id
      const byId = bpfProgGetFdById(listed.progIds[0] ?? 0);
      assert.ok(byId !== undefined);
      try {
        bpfProgDetach(fd, byId, { path: dir });
      } finally {
        closeSync(byId);
      }
      assert.deepEqual(bpfProgQuery(fd, { path: dir }).progIds, listed.progIds.slice(1));

      // detaching a program that is not attached: ENOENT, naming the cgroup
      assert.throws(
        () => bpfProgDetach(fd, progs[0] ?? -1, { path: dir }),
        (err: unknown) => err instanceof SyscallError && err.op === 'bpf(BPF_PROG_DETACH)' && err.path === dir,
      );
      bpfProgDetach(fd, progs[1] ?? -1, { path: dir });
      assert.deepEqual(bpfProgQuery(fd, { path: dir }).progIds, []);
    } finally {
      for (const prog of progs) closeSync(prog);
    }
  });
});
