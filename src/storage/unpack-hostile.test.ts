import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { llistxattr } from '../native/sys.ts';
import { writeTar, type TarWriterEntry } from '../../test/fixtures/tar-writer.ts';
import { unpackLayer, type UnpackMode } from './unpack.ts';

/** Everything observable about a tree: type, mode, owner, size, mtime, content hash, xattrs. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(path: string, rel: string): Promise<void> {
    const st = await lstat(path, { bigint: true });
    let extra = '';
    if (st.isFile()) extra = createHash('sha256').update(await readFile(path)).digest('hex');
    if (st.isSymbolicLink()) extra = await readlink(path);
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs} ${st.nlink} ${extra} ${llistxattr(path).join(',')}`);
    if (st.isDirectory()) for (const name of (await readdir(path)).sort()) await walk(join(path, name), `${rel}/${name}`);
  }
  await walk(dir, '.');
  return out;
}

interface Arena {
  root: string;
  layer: string;
  sentinel: string;
  /** Assert nothing outside the layer dir changed: the sentinel tree, the root listing, /etc/passwd. */
  assertUntouched: () => Promise<void>;
}

async function arena(t: { after: (fn: () => Promise<void>) => void }): Promise<Arena> {
  const root = await mkdtemp(join(tmpdir(), 'berth-test-hostile-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const layer = join(root, 'layer');
  const sentinel = join(root, 'sentinel');
  await mkdir(layer);
  await mkdir(join(sentinel, 'sub'), { recursive: true });
  await writeFile(join(sentinel, 'file'), 'precious\n', { mode: 0o644 });
  await writeFile(join(sentinel, 'sub', 'deep'), 'deep\n');
  const before = await snapshot(sentinel);
  const passwd = await lstat('/etc/passwd', { bigint: true });
  return {
    root,
    layer,
    sentinel,
    assertUntouched: async () => {
      assert.deepEqual(await snapshot(sentinel), before, 'the sentinel dir beside the layer is untouched');
      assert.deepEqual((await readdir(root)).sort(), ['layer', 'sentinel'], 'nothing was created beside the layer');
      const now = await lstat('/etc/passwd', { bigint: true });
      assert.equal(now.nlink, passwd.nlink, '/etc/passwd was not linked');
      assert.equal(now.ctimeNs, passwd.ctimeNs, '/etc/passwd was not changed');
    },
  };
}

async function unpackHostile(a: Arena, entries: (a: Arena) => TarWriterEntry[], mode: UnpackMode = 'overlay') {
  return unpackLayer([writeTar(entries(a))], a.layer, { layerName: 'sha256:evil', mode });
}

function refusedWith(message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof BerthError, String(err));
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.equal(err.message, message);
    assert.equal(err.hint, 'the layer is malformed or hostile; it was not applied');
    return true;
  };
}

const REFUSED: Array<[string, (a: Arena) => TarWriterEntry[], string, UnpackMode?]> = [
  ['a ../ path', () => [{ name: '../evil', data: 'x' }], 'entry "../evil": path "../evil" escapes the layer root'],
  ['a ../ path hidden mid-way', () => [{ name: 'a/../../evil', data: 'x' }], 'entry "a/../../evil": path "a/../../evil" escapes the layer root'],
  ['a /../ path', () => [{ name: '/../sentinel/file', data: 'x' }], 'entry "/../sentinel/file": path "/../sentinel/file" escapes the layer root'],
  ['a PAX path escaping', () => [{ name: 'ok', pax: { path: '../sentinel/file' }, data: 'x' }], 'entry "../sentinel/file": path "../sentinel/file" escapes the layer root'],
  [
    'a file under a planted absolute symlink',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 's/file', data: 'pwned' }],
    'entry "s/file": path goes through symlink "s"',
  ],
  [
    'a file under a planted relative symlink to ..',
    () => [{ name: 'up', type: 'symlink', linkname: '..' }, { name: 'up/sentinel/file', data: 'pwned' }],
    'entry "up/sentinel/file": path goes through symlink "up"',
  ],
  [
    'a file under a chain of symlinks',
    () => [
      { name: 'd/', type: 'dir' },
      { name: 'd/up', type: 'symlink', linkname: '..' },
      { name: 'd/x', type: 'symlink', linkname: 'up/../..' },
      { name: 'd/x/sentinel/sub/deep', data: 'pwned' },
    ],
    'entry "d/x/sentinel/sub/deep": path goes through symlink "d/x"',
  ],
  [
    'a directory under a planted symlink',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 's/sub/', type: 'dir', mode: 0o777 }],
    'entry "s/sub/": path goes through symlink "s"',
  ],
  ['a hardlink to /etc/passwd', () => [{ name: 'h', type: 'hardlink', linkname: '/etc/passwd' }], 'entry "h": hardlink target "/etc/passwd" parent "etc" does not exist in this layer'],
  ['a hardlink to ../../x', () => [{ name: 'h', type: 'hardlink', linkname: '../../x' }], 'entry "h": hardlink target "../../x" escapes the layer root'],
  ['a hardlink to a sibling dir', () => [{ name: 'h', type: 'hardlink', linkname: '../sentinel/file' }], 'entry "h": hardlink target "../sentinel/file" escapes the layer root'],
  [
    'a hardlink through a symlink',
    () => [{ name: 's', type: 'symlink', linkname: '/etc' }, { name: 'h', type: 'hardlink', linkname: 's/passwd' }],
    'entry "h": hardlink target "s/passwd" goes through symlink "s"',
  ],
  [
    'a hardlink through a symlink to the sentinel',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 'h', type: 'hardlink', linkname: 's/file' }],
    'entry "h": hardlink target "s/file" goes through symlink "s"',
  ],
  ['a hardlink to a directory', () => [{ name: 'd/', type: 'dir' }, { name: 'h', type: 'hardlink', linkname: 'd' }], 'entry "h": hardlink target "d" is a directory'],
  ['a whiteout of ..', () => [{ name: 'a/.wh...' }], 'entry "a/.wh...": invalid whiteout ".wh...": it names no file in its directory'],
  ['a whiteout of .', () => [{ name: '.wh..' }], 'entry ".wh..": invalid whiteout ".wh..": it names no file in its directory'],
  ['an empty whiteout', () => [{ name: 'x/.wh.' }], 'entry "x/.wh.": invalid whiteout ".wh.": it names no file in its directory'],
  ['a whiteout escaping', () => [{ name: '../.wh.sentinel' }], 'entry "../.wh.sentinel": path "../.wh.sentinel" escapes the layer root'],
  [
    'a whiteout under a planted symlink',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 's/.wh.file' }],
    'entry "s/.wh.file": path goes through symlink "s"',
  ],
  [
    'a vfs whiteout under a planted symlink',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 's/.wh.file' }],
    'entry "s/.wh.file": path goes through symlink "s"',
    'vfs',
  ],
  [
    'an opaque marker under a planted symlink',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 's/.wh..wh..opq' }],
    'entry "s/.wh..wh..opq": path goes through symlink "s"',
  ],
  [
    'a vfs opaque marker under a planted symlink',
    (a) => [{ name: 's', type: 'symlink', linkname: a.sentinel }, { name: 's/.wh..wh..opq' }],
    'entry "s/.wh..wh..opq": path goes through symlink "s"',
    'vfs',
  ],
  [
    'a file under a char device',
    () => [{ name: 'x', type: 'chardev', devmajor: 1, devminor: 3 }, { name: 'x/y', data: 'z' }],
    'entry "x/y": path goes through character device "x", which is not a directory',
  ],
  ['a file under a fifo', () => [{ name: 'p', type: 'fifo' }, { name: 'p/y/', type: 'dir' }], 'entry "p/y/": path goes through fifo "p", which is not a directory'],
  ['a file under a file', () => [{ name: 'f', data: '' }, { name: 'f/y', data: '' }], 'entry "f/y": path goes through regular file "f", which is not a directory'],
  ['a non-directory layer root', () => [{ name: './', type: 'symlink', linkname: '/' }], 'entry "./": the layer root can only be a directory, not a symlink'],
  ['an unknown entry type', () => [{ name: 'z', typeflag: 'Z' }], 'entry "z": unsupported tar entry type "Z"'],
];

const isRoot = process.getuid?.() === 0;

describe('unpackLayer with hostile layers', { skip: !isRoot && 'needs root (owners, device nodes)' }, () => {
  for (const [what, entries, message, mode] of REFUSED) {
    it(`refuses ${what} and writes nothing outside the layer`, async (t) => {
      const a = await arena(t);
      await assert.rejects(unpackHostile(a, entries, mode), refusedWith(`layer sha256:evil ${message}`));
      await a.assertUntouched();
    });
  }

  it('keeps absolute paths inside the layer when entries start with /', async (t) => {
    const a = await arena(t);
    await unpackHostile(a, () => [{ name: '/abs/evil', data: 'inside' }, { name: '/', type: 'dir', mode: 0o755 }]);
    assert.equal(await readFile(join(a.layer, 'abs/evil'), 'utf8'), 'inside');
    await a.assertUntouched();
  });

  it('replaces a planted symlink instead of writing through it when a file takes its name', async (t) => {
    const a = await arena(t);
    await unpackHostile(a, (x) => [
      { name: 's', type: 'symlink', linkname: join(x.sentinel, 'file') },
      { name: 's', data: 'replaced', mode: 0o777 },
      { name: 'd', type: 'symlink', linkname: x.sentinel },
      { name: 'd/', type: 'dir', mode: 0o777 },
      { name: 'dev', type: 'symlink', linkname: join(x.sentinel, 'file') },
      { name: 'dev', type: 'chardev', devmajor: 1, devminor: 3 },
    ]);
    assert.equal(await readFile(join(a.layer, 's'), 'utf8'), 'replaced');
    assert.ok((await lstat(join(a.layer, 'd'))).isDirectory());
    assert.ok((await lstat(join(a.layer, 'dev'))).isCharacterDevice());
    await a.assertUntouched();
  });

  it('links a symlink itself, not its outside target, when a hardlink names a symlink', async (t) => {
    const a = await arena(t);
    await unpackHostile(a, () => [
      { name: 'p', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'h', type: 'hardlink', linkname: 'p' },
    ]);
    const h = await lstat(join(a.layer, 'h'));
    assert.ok(h.isSymbolicLink());
    assert.equal(h.ino, (await lstat(join(a.layer, 'p'))).ino);
    await a.assertUntouched();
  });

  it('links to the layer own /etc/passwd when a hardlink target is absolute', async (t) => {
    const a = await arena(t);
    await unpackHostile(a, () => [
      { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
      { name: 'h', type: 'hardlink', linkname: '/etc/passwd' },
    ]);
    assert.equal((await lstat(join(a.layer, 'h'))).ino, (await lstat(join(a.layer, 'etc/passwd'))).ino);
    assert.equal((await lstat(join(a.layer, 'h'))).nlink, 2);
    await a.assertUntouched();
  });

  it('removes only the layer own path when a vfs whiteout starts with /', async (t) => {
    const a = await arena(t);
    await writeFile(join(a.layer, 'victim'), 'v');
    await unpackHostile(a, () => [{ name: '/.wh.victim' }], 'vfs');
    await assert.rejects(lstat(join(a.layer, 'victim')), { code: 'ENOENT' });
    await a.assertUntouched();
  });
});
