import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, symlink, lstat, mkdir, readFile } from 'node:fs/promises';
import { closeSync, openSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyscallError } from '../common/index.ts';
import {
  S_IFBLK,
  S_IFCHR,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  AT_FDCWD,
  isSyscallErrno,
  lgetxattr,
  llistxattr,
  lsetxattr,
  lutimes,
  major,
  makedev,
  minor,
  mkfifo,
  mknod,
  openat2,
} from './sys.ts';

const isRoot = process.getuid?.() === 0;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-sys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('sys', () => {
  it('encodes device numbers like glibc makedev when major/minor are large', () => {
    assert.equal(makedev(1, 3), 0x103n);
    assert.equal(makedev(0, 0), 0n);
    const dev = makedev(4095 + 100, 300);
    assert.equal(major(dev), 4195);
    assert.equal(minor(dev), 300);
  });

  it('creates char and block devices with the given numbers when root', { skip: !isRoot && 'needs root' }, async (t) => {
    const dir = await tempDir(t);
    mknod(join(dir, 'null'), S_IFCHR | 0o666, 1, 3);
    mknod(join(dir, 'loop'), S_IFBLK | 0o660, 7, 300);
    const c = await lstat(join(dir, 'null'), { bigint: true });
    assert.ok(c.isCharacterDevice());
    assert.equal(major(c.rdev), 1);
    assert.equal(minor(c.rdev), 3);
    const b = await lstat(join(dir, 'loop'), { bigint: true });
    assert.ok(b.isBlockDevice());
    assert.equal(minor(b.rdev), 300);
  });

  it('reports the path and errno when mknod hits an existing file', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'taken');
    await writeFile(path, 'x');
    assert.throws(
      () => mkfifo(path, 0o644),
      (err: unknown) =>
        err instanceof SyscallError &&
        err.errnoName === 'EEXIST' &&
        err.code === 'ALREADY_EXISTS' &&
        err.message === `mkfifo ${JSON.stringify(path)}: file exists (EEXIST)`,
    );
  });

  it('creates a fifo when asked', async (t) => {
    const dir = await tempDir(t);
    mkfifo(join(dir, 'pipe'), 0o600);
    assert.ok((await lstat(join(dir, 'pipe'))).isFIFO());
  });

  it('round-trips every byte value through an xattr when the value is binary', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'f');
    await writeFile(path, '');
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    lsetxattr(path, 'user.bin', value);
    lsetxattr(path, 'user.empty', Buffer.alloc(0));
    assert.deepEqual(lgetxattr(path, 'user.bin'), value);
    assert.deepEqual(lgetxattr(path, 'user.empty'), Buffer.alloc(0));
    assert.equal(lgetxattr(path, 'user.missing'), undefined);
    assert.deepEqual(llistxattr(path).sort(), ['user.bin', 'user.empty']);
  });

  it('sets trusted xattrs on a symlink itself without following it when root', { skip: !isRoot && 'needs root' }, async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'target'), '');
    await symlink('target', join(dir, 'link'));
    lsetxattr(join(dir, 'link'), 'trusted.mark', Buffer.from('on-link'));
    assert.deepEqual(lgetxattr(join(dir, 'link'), 'trusted.mark'), Buffer.from('on-link'));
    assert.equal(lgetxattr(join(dir, 'target'), 'trusted.mark'), undefined);
  });

  it('fails with ENOENT naming the path when the file is missing', () => {
    assert.throws(
      () => lgetxattr('/nonexistent/berth', 'user.x'),
      (err: unknown) => isSyscallErrno(err, 'ENOENT') && err.path === '/nonexistent/berth' && err.code === 'NOT_FOUND',
    );
  });

  it('sets nanosecond mtimes on a symlink without touching its target', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'target'), '');
    await symlink('target', join(dir, 'link'));
    lutimes(join(dir, 'link'), { sec: 1000, nsec: 5 }, { sec: 1234567890, nsec: 123456789 });
    const l = await lstat(join(dir, 'link'), { bigint: true });
    assert.equal(l.mtimeNs, 1234567890123456789n);
    assert.equal(l.atimeNs, 1000000000005n);
    const target = await lstat(join(dir, 'target'), { bigint: true });
    assert.notEqual(target.mtimeNs, 1234567890123456789n);
  });

  it('keeps absolute symlinks inside the root when opening with RESOLVE_IN_ROOT', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc', 'passwd'), 'inside\n');
    await symlink('/etc/passwd', join(dir, 'evil'));
    await symlink('../../../../../etc/passwd', join(dir, 'dots'));
    const rootFd = openSync(dir, 'r');
    t.after(() => closeSync(rootFd));
    for (const name of ['evil', 'dots', '/etc/passwd']) {
      const fd = openat2(rootFd, name, { resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS });
      const buf = Buffer.alloc(64);
      const n = readSync(fd, buf);
      closeSync(fd);
      assert.equal(buf.subarray(0, n).toString(), 'inside\n', name);
    }
    assert.notEqual(await readFile('/etc/passwd', 'utf8'), 'inside\n');
  });

  it('fails naming the path when openat2 cannot find it', () => {
    assert.throws(() => openat2(AT_FDCWD, '/nonexistent/berth/x'), (err: unknown) => isSyscallErrno(err, 'ENOENT'));
  });
});
