import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir, readFile, symlink, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../common/index.ts';
import { lsetxattr } from '../../native/sys.ts';
import { chunked, END_OF_ARCHIVE, paxHeader, paxRecord, tarEntry, writeTar } from '../../../test/fixtures/tar-writer.ts';
import { readTar, type TarEntry } from './reader.ts';

interface ReadEntry extends Omit<TarEntry, 'body'> {
  data: Buffer;
}

async function readAll(source: AsyncIterable<Buffer> | Buffer[]): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const entry of readTar(source)) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(chunk);
    const { body: _body, ...rest } = entry;
    out.push({ ...rest, data: Buffer.concat(parts) });
  }
  return out;
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-tar-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function isError(message: string | RegExp, code = 'INVALID_ARGUMENT') {
  return (err: unknown) => {
    assert.ok(err instanceof BerthError, `expected BerthError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  };
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('readTar', () => {
  it('reads ustar entries of every type with their metadata when streamed in small chunks', async () => {
    const tar = writeTar([
      { name: 'dir/', type: 'dir', mode: 0o2755, uid: 1, gid: 2, uname: 'daemon', gname: 'bin', mtime: 1600000000 },
      { name: 'dir/file', data: 'hello\n', mode: 0o4755, uid: 1000, gid: 1001 },
      { name: 'dir/link', type: 'symlink', linkname: '/abs/target' },
      { name: 'dir/hard', type: 'hardlink', linkname: 'dir/file' },
      { name: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/sda', type: 'blockdev', devmajor: 8, devminor: 0 },
      { name: 'pipe', type: 'fifo' },
    ]);
    const entries = await readAll(chunked(tar, 7));
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.mode.toString(8), e.uid, e.gid, e.linkname, e.devmajor, e.devminor, e.data.toString()]),
      [
        ['dir/', 'dir', '2755', 1, 2, '', 0, 0, ''],
        ['dir/file', 'file', '4755', 1000, 1001, '', 0, 0, 'hello\n'],
        ['dir/link', 'symlink', '644', 0, 0, '/abs/target', 0, 0, ''],
        ['dir/hard', 'hardlink', '644', 0, 0, 'dir/file', 0, 0, ''],
        ['dev/null', 'chardev', '666', 0, 0, '', 1, 3, ''],
        ['dev/sda', 'blockdev', '644', 0, 0, '', 8, 0, ''],
        ['pipe', 'fifo', '644', 0, 0, '', 0, 0, ''],
      ],
    );
    assert.equal(entries[0]?.uname, 'daemon');
    assert.deepEqual(entries[0]?.mtime, { sec: 1600000000, nsec: 0 });
  });

  it('reads long names from PAX records when they exceed 100 and 255 bytes', async () => {
    const long = `${'a'.repeat(120)}/${'b'.repeat(200)}/file`;
    const longLink = `/${'target/'.repeat(40)}x`;
    const mid = `${'p'.repeat(90)}/${'n'.repeat(60)}`;
    const entries = await readAll(
      chunked(writeTar([
        { name: long, data: 'x' },
        { name: 'l', type: 'symlink', linkname: longLink },
        { name: mid, data: 'y', ustarPrefix: true },
      ]), 100),
    );
    assert.deepEqual(entries.map((e) => e.name), [long, 'l', mid]);
    assert.equal(entries[1]?.linkname, longLink);
  });

  it('keeps every byte of a binary xattr value when read from PAX', async () => {
    const entries = await readAll([
      writeTar([{ name: 'f', xattrs: { 'security.capability': ALL_BYTES, 'user.nl': Buffer.from('a\nb=c\0') } }]),
    ]);
    assert.deepEqual(entries[0]?.xattrs.get('security.capability'), ALL_BYTES);
    assert.deepEqual(entries[0]?.xattrs.get('user.nl'), Buffer.from('a\nb=c\0'));
  });

  it('decodes LIBARCHIVE xattrs when written by bsdtar', async () => {
    const entries = await readAll([
      writeTar([{ name: 'f', pax: { 'LIBARCHIVE.xattr.user.a%3Db': ALL_BYTES.toString('base64') } }]),
    ]);
    assert.deepEqual(entries[0]?.xattrs.get('user.a=b'), ALL_BYTES);
  });

  it('honours PAX uid/gid when they exceed the octal range', async () => {
    const entries = await readAll([writeTar([{ name: 'f', uid: 3000000, gid: 4000000000 }])]);
    assert.equal(entries[0]?.uid, 3000000);
    assert.equal(entries[0]?.gid, 4000000000);
  });

  it('reads base-256 uid/gid when written GNU style', async () => {
    const entries = await readAll([writeTar([{ name: 'f', uid: 3000000, gid: 2 ** 40, bigIds: 'base256' }])]);
    assert.equal(entries[0]?.uid, 3000000);
    assert.equal(entries[0]?.gid, 2 ** 40);
  });

  it('reads fractional PAX mtimes with nanoseconds when present', async () => {
    const entries = await readAll([
      writeTar([{ name: 'f', mtime: 1700000000.25 }, { name: 'g', pax: { mtime: '-1.5', atime: '12.000000001' } }]),
    ]);
    assert.deepEqual(entries[0]?.mtime, { sec: 1700000000, nsec: 250000000 });
    assert.deepEqual(entries[1]?.mtime, { sec: -2, nsec: 500000000 });
    assert.deepEqual(entries[1]?.atime, { sec: 12, nsec: 1 });
  });

  it('applies global PAX headers to every later entry until cleared', async () => {
    const tar = Buffer.concat([
      paxHeader('g', Buffer.concat([paxRecord('uid', '7'), paxRecord('SCHILY.xattr.user.g', 'v')])),
      tarEntry({ name: 'a' }),
      tarEntry({ name: 'b', pax: { uid: '9' } }),
      paxHeader('g', paxRecord('uid', '')),
      tarEntry({ name: 'c', uid: 3 }),
      END_OF_ARCHIVE,
    ]);
    const entries = await readAll([tar]);
    assert.deepEqual(entries.map((e) => [e.name, e.uid, e.xattrs.get('user.g')?.toString()]), [
      ['a', 7, 'v'],
      ['b', 9, 'v'],
      ['c', 3, 'v'],
    ]);
  });

  it('fails naming the byte offset when a header checksum is wrong', async () => {
    const tar = writeTar([{ name: 'ok', data: 'x' }, { name: 'bad' }]);
    tar[1024 + 5] = 0x41; // corrupt the second header's name
    await assert.rejects(readAll([tar]), isError(/^invalid tar: header checksum mismatch at byte 1024 \(entry "bad": stored \d+, computed \d+\)$/));
  });

  it('fails with the needed and received sizes when entry data is truncated', async () => {
    const tar = writeTar([{ name: 'x', data: Buffer.alloc(100, 1) }]);
    await assert.rejects(readAll([tar.subarray(0, 512 + 40)]), isError('truncated tar: entry "x" needs 100 bytes, got 40'));
  });

  it('fails on truncated data even when the body is not read', async () => {
    const tar = writeTar([{ name: 'x', data: Buffer.alloc(1000, 1) }]);
    const iterate = async () => {
      for await (const _ of readTar([tar.subarray(0, 512 + 600)])) {
        // skip the body
      }
    };
    await assert.rejects(iterate(), isError('truncated tar: entry "x" needs 1000 bytes, got 600'));
  });

  it('accepts an archive when its final padding and end marker are cut off', async () => {
    const tar = writeTar([{ name: 'x', data: 'abc' }]);
    const entries = await readAll([tar.subarray(0, 512 + 3)]);
    assert.equal(entries[0]?.data.toString(), 'abc');
  });

  it('fails on a partial header block', async () => {
    const tar = writeTar([{ name: 'x' }, { name: 'y' }]);
    await assert.rejects(readAll([tar.subarray(0, 512 + 100)]), isError('truncated tar: header at byte 512 has 100 of 512 bytes'));
  });

  it('refuses sparse files with a clear error', async () => {
    await assert.rejects(readAll([writeTar([{ name: 's', typeflag: 'S' }])]), isError(/^tar entry "s" uses GNU type "S" \(sparse file\)/, 'NOT_IMPLEMENTED'));
    await assert.rejects(readAll([writeTar([{ name: 's', pax: { 'GNU.sparse.major': '1' } }])]), isError(/^tar entry "s" is a sparse file/, 'NOT_IMPLEMENTED'));
  });

  it('refuses a PAX path with a NUL byte when present', async () => {
    await assert.rejects(readAll([writeTar([{ name: 'x', pax: { path: 'a\0b' } }])]), isError(/contains a NUL byte/));
  });

  it('refuses malformed PAX records', async () => {
    const tar = Buffer.concat([paxHeader('x', Buffer.from('99 path=x\n')), tarEntry({ name: 'x' }), END_OF_ARCHIVE]);
    await assert.rejects(readAll([tar]), isError(/^invalid tar: malformed PAX header: record at byte 0 overruns the header/));
  });

  it('refuses oversized PAX headers instead of buffering them', async () => {
    const tar = Buffer.concat([paxHeader('x', Buffer.concat([paxRecord('comment', 'c'.repeat(2 << 20))])), END_OF_ARCHIVE]);
    await assert.rejects(readAll([tar]), isError(/is larger than the 1048576-byte limit/));
  });

  it('lists what it writes the way GNU tar does when checked with tar -tv', async (t) => {
    const dir = await tempDir(t);
    const long = `${'d'.repeat(150)}/${'f'.repeat(150)}`;
    await writeFile(
      join(dir, 'w.tar'),
      writeTar([
        { name: long, data: 'x'.repeat(10), uid: 3000000, gid: 5, mode: 0o4755 },
        { name: 'dev', type: 'chardev', devmajor: 1, devminor: 3 },
        { name: 'ln', type: 'hardlink', linkname: long },
      ]),
    );
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, 'w.tar')], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(listing.length, 3);
    assert.match(listing[0] ?? '', new RegExp(`^-rwsr-xr-x 3000000/5 +10 .* ${long}$`));
    assert.match(listing[1] ?? '', /^crw-r--r-- 0\/0 +1,3 .* dev$/);
    assert.match(listing[2] ?? '', new RegExp(`^hrw-r--r-- 0/0 +0 .* ln link to ${long}$`));
  });

  it('reads GNU long names and links when made by GNU tar --format=gnu', async (t) => {
    const dir = await tempDir(t);
    const deep = join('src', 'x'.repeat(120), 'y'.repeat(150));
    await mkdir(join(dir, deep), { recursive: true });
    await writeFile(join(dir, deep, 'file'), 'gnu\n');
    await symlink(`/${'t'.repeat(150)}`, join(dir, 'src', 'longlink'));
    execFileSync('tar', ['--format=gnu', '-cf', join(dir, 'g.tar'), '-C', dir, 'src']);
    const entries = await readAll(chunked(await readFile(join(dir, 'g.tar')), 511));
    const file = entries.find((e) => e.name === `${deep}/file`);
    assert.equal(file?.data.toString(), 'gnu\n');
    assert.equal(entries.find((e) => e.name === 'src/longlink')?.linkname, `/${'t'.repeat(150)}`);
  });

  it('reads binary xattrs, big owners and nanosecond mtimes when made by GNU tar --xattrs --format=pax', { skip: process.getuid?.() !== 0 && 'needs root (chown)' }, async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'root'));
    const file = join(dir, 'root', 'f');
    await writeFile(file, 'data');
    lsetxattr(file, 'user.bin', ALL_BYTES);
    execFileSync('chown', ['3000000:3000001', file]);
    await utimes(file, 1700000000.5, 1700000000.5);
    execFileSync('tar', ['--xattrs', "--xattrs-include=*", '--format=pax', '-cf', join(dir, 'p.tar'), '-C', join(dir, 'root'), 'f']);
    const [entry] = await readAll([await readFile(join(dir, 'p.tar'))]);
    assert.equal(entry?.name, 'f');
    assert.deepEqual(entry?.xattrs.get('user.bin'), ALL_BYTES);
    assert.equal(entry?.uid, 3000000);
    assert.equal(entry?.gid, 3000001);
    assert.deepEqual(entry?.mtime, { sec: 1700000000, nsec: 500000000 });
  });
});
