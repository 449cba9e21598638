import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readFile, readdir, readlink, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { BerthError } from '../common/index.ts';
import { lgetxattr, lsetxattr, major, minor } from '../native/sys.ts';
import { chunked, writeTar, type TarWriterEntry } from '../../test/fixtures/tar-writer.ts';
import { unpackLayer, type UnpackEvent } from './unpack.ts';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
/** A valid vfs_cap_data v2: effective, permitted = CAP_NET_RAW. */
const CAP_NET_RAW = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-unpack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function unpack(entries: TarWriterEntry[], layerDir: string, mode: 'overlay' | 'vfs' = 'overlay') {
  return unpackLayer(chunked(writeTar(entries), 1000), layerDir, { layerName: 'sha256:test', mode });
}

const isRoot = process.getuid?.() === 0;

describe('unpackLayer', { skip: !isRoot && 'needs root (owners, device nodes, trusted xattrs)' }, () => {
  it('recreates files, owners, modes, devices, links and xattrs when given a full layer', async (t) => {
    const layer = join(await tempDir(t), 'layer');
    const stats = await unpack(
      [
        { name: 'bin/', type: 'dir', mode: 0o750, uid: 2, gid: 3, mtime: 1500000000 },
        { name: 'bin/tool', data: 'tool-bytes', mode: 0o4755, uid: 1000, gid: 1001, mtime: '1600000000.123456789' },
        { name: 'bin/sgid', data: '', mode: 0o2711, gid: 50 },
        { name: 'bin/hard', type: 'hardlink', linkname: 'bin/tool' },
        { name: 'bin/abs', type: 'symlink', linkname: '/etc/passwd', mtime: 1400000000, uid: 5, gid: 6 },
        { name: 'bin/rel', type: 'symlink', linkname: '../../../x' },
        { name: 'bin/ping', data: 'p', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW, 'user.bin': ALL_BYTES } },
        { name: 'tmp/', type: 'dir', mode: 0o1777 },
        { name: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/sda', type: 'blockdev', devmajor: 8, devminor: 300, mode: 0o660 },
        { name: 'run/pipe', type: 'fifo', mode: 0o620 },
        { name: 'big', data: 'b', uid: 3000000, gid: 3000001 },
      ],
      layer,
    );
    assert.equal(stats.entries, 12);
    assert.equal(stats.bytes, 'tool-bytes'.length + 2);

    const tool = await lstat(join(layer, 'bin/tool'), { bigint: true });
    assert.equal(await readFile(join(layer, 'bin/tool'), 'utf8'), 'tool-bytes');
    assert.equal(Number(tool.mode & 0o7777n).toString(8), '4755', 'setuid survives the chown');
    assert.equal(tool.uid, 1000n);
    assert.equal(tool.gid, 1001n);
    assert.equal(tool.mtimeNs, 1600000000123456789n);
    assert.equal(Number((await lstat(join(layer, 'bin/sgid'))).mode & 0o7777).toString(8), '2711');

    const hard = await lstat(join(layer, 'bin/hard'), { bigint: true });
    assert.equal(hard.ino, tool.ino);
    assert.equal(hard.nlink, 2n);

    assert.equal(await readlink(join(layer, 'bin/abs')), '/etc/passwd', 'absolute symlinks are kept verbatim');
    assert.equal(await readlink(join(layer, 'bin/rel')), '../../../x');
    const abs = await lstat(join(layer, 'bin/abs'));
    assert.equal(abs.mtimeMs, 1400000000000);
    assert.equal(abs.uid, 5);

    assert.deepEqual(lgetxattr(join(layer, 'bin/ping'), 'security.capability'), CAP_NET_RAW);
    assert.deepEqual(lgetxattr(join(layer, 'bin/ping'), 'user.bin'), ALL_BYTES);

    const bin = await lstat(join(layer, 'bin'));
    assert.equal(bin.mode & 0o7777, 0o750);
    assert.equal(bin.uid, 2);
    assert.equal(bin.mtimeMs, 1500000000000, 'directory mtime is set after its contents');
    assert.equal((await lstat(join(layer, 'tmp'))).mode & 0o7777, 0o1777);

    const devNull = await lstat(join(layer, 'dev/null'), { bigint: true });
    assert.ok(devNull.isCharacterDevice());
    assert.deepEqual([major(devNull.rdev), minor(devNull.rdev), Number(devNull.mode & 0o777n)], [1, 3, 0o666]);
    const sda = await lstat(join(layer, 'dev/sda'), { bigint: true });
    assert.ok(sda.isBlockDevice());
    assert.deepEqual([major(sda.rdev), minor(sda.rdev)], [8, 300]);
    const pipe = await lstat(join(layer, 'run/pipe'));
    assert.ok(pipe.isFIFO());
    assert.equal(pipe.mode & 0o777, 0o620);
    const big = await lstat(join(layer, 'big'));
    assert.deepEqual([big.uid, big.gid], [3000000, 3000001]);
    assert.equal((await lstat(join(layer, 'dev'))).mode & 0o777, 0o755, 'implicit parents are 0755');
  });

  it('replaces earlier entries when a later entry has the same name', async (t) => {
    const layer = join(await tempDir(t), 'layer');
    await unpack(
      [
        { name: 'x', data: 'first' },
        { name: 'x', data: 'second' },
        { name: 'd/f', data: 'in dir' },
        { name: 'd', data: 'now a file' },
        { name: 'e', type: 'symlink', linkname: 'x' },
        { name: 'e/', type: 'dir', mode: 0o700 },
      ],
      layer,
    );
    assert.equal(await readFile(join(layer, 'x'), 'utf8'), 'second');
    assert.equal(await readFile(join(layer, 'd'), 'utf8'), 'now a file');
    assert.ok((await lstat(join(layer, 'e'))).isDirectory());
    assert.equal(await readFile(join(layer, 'x'), 'utf8'), 'second');
  });

  it('keeps tar order when later entries touch files still being written, in a layer larger than the unpacker buffers', async (t) => {
    const layer = join(await tempDir(t), 'layer');
    const big = (n: number, seed: number) => Buffer.alloc(n, seed);
    const small = Array.from({ length: 400 }, (_, i) => ({ name: `many/${i}`, data: `file ${i}`, mode: 0o640, uid: i % 3, gid: 7, mtime: `1600000000.${String(i).padStart(9, '0')}` }));
    const entries: TarWriterEntry[] = [
      { name: 'many/', type: 'dir', mode: 0o755 },
      ...small,
      { name: 'big', data: big(6 << 20, 1) },
      { name: 'link', type: 'hardlink', linkname: 'big' },
      { name: 'big', data: big(3 << 20, 2), mode: 0o600 },
      { name: 'under', data: 'a file first' },
      { name: 'under', type: 'dir', mode: 0o711 },
      { name: 'under/f', data: big(5 << 20, 3) },
      { name: 'many/7', type: 'symlink', linkname: 'elsewhere' },
      { name: 'last', data: 'the end', mode: 0o4755, uid: 12, gid: 34 },
    ];
    const tar = writeTar(entries);
    const stats = await unpackLayer(chunked(gzipSync(tar, { level: 1 }), 65536), layer);
    assert.equal(stats.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    const inline = join(await tempDir(t), 'inline');
    const inlineStats = await unpackLayer(chunked(gzipSync(tar, { level: 1 }), 65536), inline, { sizeHint: 1 });
    assert.deepEqual(inlineStats, stats, 'the same layer unpacked without worker threads');
    assert.ok((await readFile(join(inline, 'under/f'))).equals(big(5 << 20, 3)));
    assert.ok((await readFile(join(inline, 'link'))).equals(big(6 << 20, 1)));
    assert.equal(stats.entries, entries.length);
    assert.ok((await readFile(join(layer, 'link'))).equals(big(6 << 20, 1)), 'the hardlink kept the first file');
    assert.ok((await readFile(join(layer, 'big'))).equals(big(3 << 20, 2)), 'the second big replaced the first');
    assert.equal((await lstat(join(layer, 'link'))).nlink, 1);
    assert.ok((await readFile(join(layer, 'under/f'))).equals(big(5 << 20, 3)));
    assert.equal(((await lstat(join(layer, 'under'))).mode & 0o7777).toString(8), '711');
    assert.equal(await readlink(join(layer, 'many/7')), 'elsewhere');
    for (const i of [0, 1, 2, 399]) {
      const st = await lstat(join(layer, `many/${i}`), { bigint: true });
      assert.equal(await readFile(join(layer, `many/${i}`), 'utf8'), `file ${i}`);
      assert.deepEqual([Number(st.mode & 0o7777n).toString(8), st.uid, st.gid, st.mtimeNs], ['640', BigInt(i % 3), 7n, 1600000000n * 1000000000n + BigInt(i)]);
    }
    const last = await lstat(join(layer, 'last'));
    assert.deepEqual([(last.mode & 0o7777).toString(8), last.uid, last.gid], ['4755', 12, 34]);
  });

  it('gives entries of our own uid:gid that owner inside a setgid directory of another group', async (t) => {
    const layer = join(await tempDir(t), 'layer');
    await unpack(
      [
        { name: 'sg/', type: 'dir', mode: 0o2775, gid: 50 },
        { name: 'sg/f', data: 'mine', uid: 0, gid: 0 },
        { name: 'sg/sub/', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
        { name: 'sg/sub/g', data: 'mine too', uid: 0, gid: 0 },
        { name: 'sg/l', type: 'symlink', linkname: 'f', uid: 0, gid: 0 },
        { name: 'plain/', type: 'dir', mode: 0o755 },
        { name: 'plain/h', data: 'x', uid: 0, gid: 0 },
      ],
      layer,
    );
    const owner = async (path: string) => {
      const st = await lstat(join(layer, path));
      return [st.uid, st.gid, (st.mode & 0o7777).toString(8)];
    };
    assert.deepEqual(await owner('sg'), [0, 50, '2775']);
    assert.deepEqual(await owner('sg/f'), [0, 0, '644']);
    assert.deepEqual(await owner('sg/sub'), [0, 0, '755']);
    assert.deepEqual(await owner('sg/sub/g'), [0, 0, '644']);
    assert.deepEqual((await owner('sg/l')).slice(0, 2), [0, 0]);
    assert.deepEqual(await owner('plain/h'), [0, 0, '644']);
  });

  it('writes overlay whiteouts and opaque markers when mode is overlay', async (t) => {
    const layer = join(await tempDir(t), 'layer');
    const stats = await unpack(
      [
        { name: 'a/', type: 'dir' },
        { name: 'a/.wh.gone', uid: 7, gid: 8 },
        { name: 'b/', type: 'dir' },
        { name: 'b/.wh..wh..opq' },
        { name: 'b/new', data: 'n' },
        { name: '.wh..wh.plnk/123.456', data: 'aufs hardlink store' },
      ],
      layer,
    );
    assert.equal(stats.whiteouts, 2);
    const gone = await lstat(join(layer, 'a/gone'), { bigint: true });
    assert.ok(gone.isCharacterDevice());
    assert.equal(gone.rdev, 0n);
    assert.equal(gone.uid, 7n);
    assert.deepEqual(lgetxattr(join(layer, 'b'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.deepEqual((await readdir(layer)).sort(), ['a', 'b']);
    assert.deepEqual(await readdir(join(layer, 'a')), ['gone']);
  });

  it('deletes whited-out paths and empties opaque dirs when mode is vfs', async (t) => {
    const root = join(await tempDir(t), 'rootfs');
    await unpack(
      [
        { name: 'keep', data: 'k' },
        { name: 'gone', data: 'g' },
        { name: 'dir/gone-too/deep', data: 'x' },
        { name: 'opq/old', data: 'o' },
        { name: 'opq/sub/older', data: 'o' },
      ],
      root,
      'vfs',
    );
    await unpack(
      [
        { name: '.wh.gone' },
        { name: 'dir/.wh.gone-too' },
        { name: 'opq/', type: 'dir' },
        { name: 'opq/early', data: 'written before the marker' },
        { name: 'opq/.wh..wh..opq' },
        { name: 'opq/new', data: 'n' },
      ],
      root,
      'vfs',
    );
    assert.deepEqual((await readdir(root)).sort(), ['dir', 'keep', 'opq']);
    assert.deepEqual(await readdir(join(root, 'dir')), []);
    assert.deepEqual((await readdir(join(root, 'opq'))).sort(), ['early', 'new']);
    assert.equal(lgetxattr(join(root, 'opq'), 'trusted.overlay.opaque'), undefined);
  });

  it('drops trusted.overlay xattrs from the tar with a warning', async (t) => {
    const layer = join(await tempDir(t), 'layer');
    const events: UnpackEvent[] = [];
    const stats = await unpackLayer([writeTar([{ name: 'd/', type: 'dir', xattrs: { 'trusted.overlay.redirect': '/etc' } }])], layer, {
      onProgress: (e) => events.push(e),
    });
    assert.equal(lgetxattr(join(layer, 'd'), 'trusted.overlay.redirect'), undefined);
    assert.equal(stats.warnings.length, 1);
    assert.match(stats.warnings[0] ?? '', /^d\/: dropped xattr "trusted.overlay.redirect"/);
    assert.ok(events.some((e) => e.type === 'warning' && e.entry === 'd/'));
  });

  it('unpacks gzip, zstd and plain layers alike and reports the diff ID when compressed, with worker threads or without (small layers)', async (t) => {
    const dir = await tempDir(t);
    const tar = writeTar([{ name: 'f', data: 'same content' }, { name: 'big', data: Buffer.alloc(300000, 7) }]);
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const inputs = { none: tar, gzip: gzipSync(tar), zstd: zstdCompressSync(tar) } as const;
    for (const [kind, data] of [...Object.entries(inputs), ...Object.entries(inputs).map(([k, v]) => [`${k}-small`, v] as const)]) {
      const events: UnpackEvent[] = [];
      const sizeHint = kind.endsWith('-small') ? data.length : undefined;
      const stats = await unpackLayer(chunked(data, 4096), join(dir, kind), { onProgress: (e) => events.push(e), ...(sizeHint ? { sizeHint } : {}) });
      assert.equal(stats.compression, kind.replace('-small', ''));
      assert.equal(stats.diffId, diffId, kind);
      assert.equal(stats.inputBytes, data.length);
      assert.equal(stats.tarBytes, tar.length);
      assert.equal(await readFile(join(dir, kind, 'f'), 'utf8'), 'same content');
      const last = events.filter((e) => e.type === 'progress').pop();
      assert.deepEqual(last, { type: 'progress', inputBytes: data.length, tarBytes: tar.length, entries: 2 });
      assert.ok(events.some((e) => e.type === 'compression' && e.compression === kind.replace('-small', '')));
    }
  });

  it('fails naming the layer when the gzip stream is corrupt', async (t) => {
    const dir = await tempDir(t);
    const gz = gzipSync(writeTar([{ name: 'f', data: Buffer.alloc(10000, 1) }]));
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff; // break the CRC
    await assert.rejects(
      unpackLayer([gz], join(dir, 'l'), { layerName: 'sha256:abc' }),
      (err: unknown) => err instanceof BerthError && /^layer sha256:abc: /.test(err.message),
    );
  });

  it('fails naming the entry when the data is truncated', async (t) => {
    const dir = await tempDir(t);
    const tar = writeTar([{ name: 'f', data: Buffer.alloc(1000, 1) }]);
    await assert.rejects(
      unpackLayer([tar.subarray(0, 512 + 10)], join(dir, 'l'), { layerName: 'sha256:abc' }),
      (err: unknown) =>
        err instanceof BerthError && err.message === 'layer sha256:abc entry "f": truncated tar: entry "f" needs 1000 bytes, got 10',
    );
  });

  it('unpacks a tar made by GNU tar --xattrs --format=pax with the same metadata', async (t) => {
    const dir = await tempDir(t);
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'f'), 'gnu');
    lsetxattr(join(src, 'sub', 'f'), 'user.bin', ALL_BYTES);
    execFileSync('chown', ['-h', '4000000:12', join(src, 'sub', 'f')]);
    execFileSync('chmod', ['6750', join(src, 'sub', 'f')]);
    execFileSync('ln', [join(src, 'sub', 'f'), join(src, 'hard')]);
    execFileSync('ln', ['-s', '/abs/target', join(src, 'sym')]);
    execFileSync('mknod', [join(src, 'tty'), 'c', '5', '0']);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--format=pax', '--numeric-owner', '-cf', join(dir, 'l.tar'), '-C', src, '.']);
    const layer = join(dir, 'layer');
    await unpackLayer([await readFile(join(dir, 'l.tar'))], layer);
    const f = await lstat(join(layer, 'sub/f'));
    assert.deepEqual([f.uid, f.gid, (f.mode & 0o7777).toString(8), f.nlink], [4000000, 12, '6750', 2]);
    assert.deepEqual(lgetxattr(join(layer, 'sub/f'), 'user.bin'), ALL_BYTES);
    assert.equal((await lstat(join(layer, 'hard'))).ino, f.ino);
    assert.equal(await readlink(join(layer, 'sym')), '/abs/target');
    assert.equal(minor((await lstat(join(layer, 'tty'), { bigint: true })).rdev), 0);
    assert.equal(major((await lstat(join(layer, 'tty'), { bigint: true })).rdev), 5);
  });
});
