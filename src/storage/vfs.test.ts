import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readdir, readlink, rm, symlink, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lgetxattr, major, minor } from '../native/sys.ts';
import { writeTar } from '../../test/fixtures/tar-writer.ts';
import { unpackLayer } from './unpack.ts';
import { vfsSnapshot } from './vfs.ts';

const CAP_NET_RAW = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-vfs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const isRoot = process.getuid?.() === 0;

describe('vfsSnapshot', { skip: !isRoot && 'needs root (owners, device nodes, trusted xattrs)' }, () => {
  it('copies layers in order with whiteouts, opaque dirs and full metadata when given overlay-format layers', async (t) => {
    const dir = await tempDir(t);
    const base = join(dir, 'base');
    const top = join(dir, 'top');
    await unpackLayer([writeTar([
      { name: 'bin/', type: 'dir', mode: 0o755, mtime: 1500000000 },
      { name: 'bin/su', data: 'su', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'bin/ping', data: 'ping', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW } },
      { name: 'bin/hard', type: 'hardlink', linkname: 'bin/ping' },
      { name: 'gone', data: 'g' },
      { name: 'opq/old', data: 'o' },
      { name: 'lib', type: 'symlink', linkname: '/usr/lib' },
      { name: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'fifo', type: 'fifo', mode: 0o600, uid: 3000000, gid: 3000001 },
      { name: 'replaced', data: 'old' },
    ])], base);
    await unpackLayer([writeTar([
      { name: '.wh.gone' },
      { name: 'opq/', type: 'dir', mode: 0o700 },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new', data: 'n' },
      { name: 'replaced/', type: 'dir', mode: 0o711 },
      { name: 'lib/', type: 'dir' },
      { name: 'lib/x', data: 'real dir now', mtime: '1234.5' },
    ])], top);
    const target = join(dir, 'rootfs');
    await vfsSnapshot([base, top], target);

    assert.deepEqual((await readdir(target)).sort(), ['bin', 'dev', 'fifo', 'lib', 'opq', 'replaced']);
    assert.deepEqual(await readdir(join(target, 'opq')), ['new']);
    assert.equal(lgetxattr(join(target, 'opq'), 'trusted.overlay.opaque'), undefined, 'overlay xattrs are not copied');
    assert.equal((await lstat(join(target, 'opq'))).mode & 0o7777, 0o700);
    assert.ok((await lstat(join(target, 'replaced'))).isDirectory());
    assert.ok((await lstat(join(target, 'lib'))).isDirectory(), 'a directory in an upper layer replaces a lower symlink');
    assert.equal(await readFile(join(target, 'lib/x'), 'utf8'), 'real dir now');
    assert.equal((await lstat(join(target, 'lib/x'), { bigint: true })).mtimeNs, 1234500000000n);

    const su = await lstat(join(target, 'bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.deepEqual(lgetxattr(join(target, 'bin/ping'), 'security.capability'), CAP_NET_RAW);
    assert.equal((await lstat(join(target, 'bin/hard'))).ino, (await lstat(join(target, 'bin/ping'))).ino);
    assert.equal((await lstat(join(target, 'bin'))).mtimeMs, 1500000000000);
    const devNull = await lstat(join(target, 'dev/null'), { bigint: true });
    assert.ok(devNull.isCharacterDevice());
    assert.deepEqual([major(devNull.rdev), minor(devNull.rdev)], [1, 3]);
    const fifo = await lstat(join(target, 'fifo'));
    assert.ok(fifo.isFIFO());
    assert.deepEqual([fifo.uid, fifo.gid], [3000000, 3000001]);
  });

  it('never follows a symlink in the copy when a later layer writes under the same name', async (t) => {
    const dir = await tempDir(t);
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'untouched');
    const base = join(dir, 'base');
    const top = join(dir, 'top');
    await mkdir(base);
    await symlink(outside, join(base, 'link'));
    await mkdir(join(top, 'link'), { recursive: true });
    await writeFile(join(top, 'link', 'keep'), 'inside');
    const target = join(dir, 'rootfs');
    await vfsSnapshot([base, top], target);
    assert.equal(await readFile(join(outside, 'keep'), 'utf8'), 'untouched');
    assert.equal(await readFile(join(target, 'link', 'keep'), 'utf8'), 'inside');
    assert.equal(await readlink(join(base, 'link')), outside);
  });
});
