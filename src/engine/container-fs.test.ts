import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTarStream } from '../image/index.ts';
import { readTar } from '../storage/index.ts';
import { lsetxattr, mknod, S_IFCHR } from '../native/sys.ts';
import { mergedTarEntries, upperChanges } from './container-fs.ts';
import { upperLayerEntries } from './container-commit.ts';

const isRoot = process.getuid?.() === 0;

/** A tree: `path` → file content, `dir`, `wh` (overlay whiteout), `opq` (opaque dir), `->target` (symlink). */
function makeTree(root: string, spec: Record<string, string>): string {
  mkdirSync(root, { recursive: true });
  for (const [path, what] of Object.entries(spec)) {
    const abs = join(root, path);
    mkdirSync(join(abs, '..'), { recursive: true });
    if (what === 'dir') mkdirSync(abs, { recursive: true });
    else if (what === 'opq') {
      mkdirSync(abs, { recursive: true });
      lsetxattr(abs, 'trusted.overlay.opaque', Buffer.from('y'));
    } else if (what === 'wh') mknod(abs, S_IFCHR, 0, 0);
    else if (what.startsWith('->')) symlinkSync(what.slice(2), abs);
    else writeFileSync(abs, what);
  }
  return root;
}

function withTemp(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-fs-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Directory times as overlayfs keeps them on copy-up: the lower's. */
function sameTimes(a: string, b: string, paths: string[]): void {
  for (const p of paths) {
    utimesSync(join(a, p), 1_000_000, 1_000_000);
    utimesSync(join(b, p), 1_000_000, 1_000_000);
  }
}

async function tarOf(entries: Iterable<import('../image/index.ts').TarWriteEntry>) {
  const chunks: Uint8Array[] = [];
  for await (const c of writeTarStream(entries)) chunks.push(c);
  const out: Array<{ name: string; type: string; linkname: string; data: string }> = [];
  for await (const e of readTar(Buffer.concat(chunks))) {
    const data: Buffer[] = [];
    for await (const c of e.body) data.push(c);
    out.push({ name: e.name, type: e.type, linkname: e.linkname, data: Buffer.concat(data).toString() });
  }
  return out;
}

describe('upperChanges', { skip: !isRoot && 'needs root (whiteout devices, trusted xattrs)' }, () => {
  it('lists A, C and D as docker does, parents first, in walk order', withTemp((dir) => {
    const lower = makeTree(join(dir, 'lower'), { 'etc/passwd': 'root', 'etc/group': 'g', 'bin/ls': 'ls', 'bin/cat': 'cat', 'usr/share/doc/x': 'x', home: 'dir' });
    const upper = makeTree(join(dir, 'upper'), { 'etc/passwd': 'root\nx', 'bin/ls': 'wh', 'usr/share/doc/new': 'n', 'new-dir/f': 'f', 'a-file': 'a', 'home': 'opq', 'home/z': 'z' });
    sameTimes(lower, upper, ['etc', 'bin', 'usr', 'usr/share', 'usr/share/doc']);
    assert.deepEqual(upperChanges(upper, [lower]).map((c) => `${c.kind} ${c.path}`), [
      'A /a-file',
      'C /bin',
      'D /bin/ls',
      'C /etc',
      'C /etc/passwd',
      'C /home',
      'A /home/z',
      'A /new-dir',
      'A /new-dir/f',
      'C /usr',
      'C /usr/share',
      'C /usr/share/doc',
      'A /usr/share/doc/new',
    ]);
  }));

  it('reports nothing for the runtime\'s own mountpoints, and nothing for an unchanged tree', withTemp((dir) => {
    const lower = makeTree(join(dir, 'lower'), { 'etc/group': 'g' });
    const upper = makeTree(join(dir, 'upper'), { 'etc/hostname': '', 'etc/hosts': '', 'etc/resolv.conf': '', dev: 'dir', 'dev/pts': 'dir' });
    assert.deepEqual(upperChanges(upper, [lower]), []);
    writeFileSync(join(upper, 'etc/hosts2'), '');
    assert.deepEqual(upperChanges(upper, [lower]).map((c) => `${c.kind} ${c.path}`), ['C /etc', 'A /etc/hosts2']);
  }));

  it('sees what upper layers of the image deleted, and a changed mode of a directory', withTemp((dir) => {
    const base = makeTree(join(dir, 'base'), { 'opt/a': 'a', 'srv/b': 'b' });
    const middle = makeTree(join(dir, 'middle'), { 'opt/a': 'wh', srv: 'opq' });
    const upper = makeTree(join(dir, 'upper'), { 'opt/a': 'again', 'srv/b': 'b2', var: 'dir' });
    chmodSync(join(upper, 'var'), 0o700);
    const lowerVar = makeTree(join(dir, 'lowervar'), { var: 'dir' });
    sameTimes(base, upper, ['opt', 'srv']);
    // opt/a was deleted by the middle layer: writing it again adds it; srv/b likewise (opaque srv)
    assert.deepEqual(upperChanges(upper, [middle, base, lowerVar]).map((c) => `${c.kind} ${c.path}`), ['C /opt', 'A /opt/a', 'C /srv', 'A /srv/b', 'C /var']);
  }));

  it('judges the owner of a user-namespaced container\'s directory by the ids it sees', withTemp(async (dir) => {
    const { chownSync } = await import('node:fs');
    const lower = makeTree(join(dir, 'lower'), { 'etc/group': 'g', var: 'dir' });
    const upper = makeTree(join(dir, 'upper'), { etc: 'dir', 'etc/x': 'x', var: 'dir' });
    for (const p of ['', 'etc', 'etc/x', 'var']) chownSync(join(upper, p), 1_000_000, 1_000_000);
    sameTimes(lower, upper, ['etc', 'var']);
    const ids = { uid: (id: number) => id - 1_000_000, gid: (id: number) => id - 1_000_000 };
    assert.deepEqual(upperChanges(upper, [lower], ids).map((c) => `${c.kind} ${c.path}`), ['C /etc', 'A /etc/x']);
    assert.deepEqual(upperChanges(upper, [lower]).map((c) => `${c.kind} ${c.path}`), ['C /etc', 'A /etc/x', 'C /var'], 'unmapped, the owner differs');
  }));

  it('never follows a symlink planted in the upper dir or a lower layer', withTemp((dir) => {
    const outside = makeTree(join(dir, 'outside'), { secret: 's', 'sub/file': 'f' });
    const lower = makeTree(join(dir, 'lower'), { link: `->${outside}` });
    const upper = makeTree(join(dir, 'upper'), { escape: `->${outside}`, 'link/file': 'x' });
    // upper's link/ is a real directory over the lower's symlink: nothing below the symlink is looked up
    assert.deepEqual(upperChanges(upper, [lower]).map((c) => `${c.kind} ${c.path}`), ['A /escape', 'C /link', 'A /link/file']);
  }));
});

describe('mergedTarEntries', { skip: !isRoot && 'needs root (whiteout devices, trusted xattrs)' }, () => {
  it('merges layers top first: whiteouts and opaque directories hide lower entries', withTemp(async (dir) => {
    const base = makeTree(join(dir, 'base'), { 'a/1': 'one', 'a/2': 'two', 'b/x': 'x', keep: 'k', gone: 'g' });
    const upper = makeTree(join(dir, 'upper'), { 'a/1': 'ONE', b: 'opq', 'b/y': 'y', gone: 'wh', 'new': 'n' });
    const entries = await tarOf(mergedTarEntries([upper, base]));
    assert.deepEqual(entries.map((e) => `${e.name}=${e.data}`), ['a/=', 'a/1=ONE', 'a/2=two', 'b/=', 'b/y=y', 'keep=k', 'new=n']);
  }));

  it('stores symlinks as symlinks and reads nothing through them', withTemp(async (dir) => {
    const outside = makeTree(join(dir, 'outside'), { secret: 'HOST SECRET' });
    const base = makeTree(join(dir, 'base'), { etc: 'dir' });
    const upper = makeTree(join(dir, 'upper'), { leak: `->${join(outside, 'secret')}`, root: '->/', 'etc/shadow': `->${join(outside, 'secret')}` });
    const entries = await tarOf(mergedTarEntries([upper, base]));
    assert.deepEqual(entries.map((e) => [e.name, e.type, e.linkname]), [
      ['etc/', 'dir', ''],
      ['etc/shadow', 'symlink', join(outside, 'secret')],
      ['leak', 'symlink', join(outside, 'secret')],
      ['root', 'symlink', '/'],
    ]);
    assert.ok(!entries.some((e) => e.data.includes('HOST SECRET')));
  }));

  it('writes further names of a hard-linked file as hard links', withTemp(async (dir) => {
    const base = makeTree(join(dir, 'base'), { 'bin/busybox': 'BB' });
    const { linkSync } = await import('node:fs');
    linkSync(join(base, 'bin/busybox'), join(base, 'bin/sh'));
    const entries = await tarOf(mergedTarEntries([base]));
    assert.deepEqual(entries.map((e) => [e.name, e.type, e.linkname, e.data]), [
      ['bin/', 'dir', '', ''],
      ['bin/busybox', 'file', '', 'BB'],
      ['bin/sh', 'hardlink', 'bin/busybox', ''],
    ]);
  }));
});

describe('upperLayerEntries', { skip: !isRoot && 'needs root (whiteout devices, trusted xattrs)' }, () => {
  it('turns overlay whiteouts and opaque directories into OCI whiteouts', withTemp(async (dir) => {
    const upper = makeTree(join(dir, 'upper'), { 'bin/ls': 'wh', home: 'opq', 'home/z': 'z', 'etc/hostname': '', new: 'n', l: '->/etc/shadow' });
    const entries = await tarOf(upperLayerEntries(upper));
    assert.deepEqual(entries.map((e) => `${e.name} ${e.type}${e.linkname ? ' ' + e.linkname : ''}`), [
      'bin/ dir',
      'bin/.wh.ls file',
      'etc/ dir',
      'home/ dir',
      'home/.wh..wh..opq file',
      'home/z file',
      'l symlink /etc/shadow',
      'new file',
    ]);
  }));

  it('maps a user-namespaced container\'s host ids back to its own', withTemp(async (dir) => {
    const upper = makeTree(join(dir, 'upper'), { f: 'x', g: 'y' });
    const { chownSync } = await import('node:fs');
    chownSync(join(upper, 'f'), 1_000_000, 1_000_033);
    chownSync(join(upper, 'g'), 5, 5);
    const ids = [];
    for (const e of upperLayerEntries(upper, { uidMaps: [{ containerID: 0, hostID: 1_000_000, size: 65536 }] })) ids.push([e.name.toString(), e.uid, e.gid]);
    assert.deepEqual(ids, [['f', 0, 33], ['g', 65534, 65534]]);
  }));

  it('refuses a file of the container named like a whiteout', withTemp((dir) => {
    const upper = makeTree(join(dir, 'upper'), { 'etc/.wh.passwd': 'x' });
    assert.throws(() => [...upperLayerEntries(upper)], (err: Error) => /etc\/\.wh\.passwd.*cannot hold/.test(err.message));
  }));
});
