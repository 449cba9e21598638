import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../common/index.ts';
import { writeTar } from '../../test/fixtures/tar-writer.ts';
import {
  LINK_NAME_LENGTH,
  MOUNT_DATA_MAX,
  createLayerLink,
  overlayMount,
  overlayMountData,
  readLayerLink,
  removeLayerLink,
  type MountSpec,
} from './overlay.ts';
import { unpackLayer } from './unpack.ts';

const isRoot = process.getuid?.() === 0;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-overlay-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A temp dir whose mounts are unmounted (last first) before the dir is removed. */
async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: string; mount: (m: MountSpec, target: string) => void }> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-overlay-'));
  const mounted: string[] = [];
  t.after(async () => {
    for (const target of mounted.reverse()) execFileSync('umount', [target]);
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    /** Mount as the runtime would: chdir into `cwd` first, then mount(2) with the data string. */
    mount: (m, target) => {
      execFileSync('mount', ['-t', m.type, m.source, '-o', overlayMountData(m), target], {
        cwd: m.cwd ?? '/',
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      mounted.push(target);
    },
  };
}

const layerPath = (i: number) => `/var/lib/berth/storage/overlay/${i.toString(16).padStart(64, 'a')}/diff`;

describe('overlayMount', () => {
  it('lists lower dirs top-most first with upper and work dirs when all are absolute', () => {
    assert.deepEqual(overlayMount({ lowerDirs: ['/l/2', '/l/1'], upperDir: '/c/upper', workDir: '/c/work', extraOptions: ['index=off'] }), {
      type: 'overlay',
      source: 'overlay',
      options: ['lowerdir=/l/2:/l/1', 'upperdir=/c/upper', 'workdir=/c/work', 'index=off'],
    });
  });

  it('returns a read-only bind when there is one lower dir and no upper', () => {
    assert.deepEqual(overlayMount({ lowerDirs: ['/l/1'] }), { type: 'bind', source: '/l/1', options: ['rbind', 'ro'] });
  });

  it('refuses paths that would break the option string', () => {
    assert.throws(() => overlayMount({ lowerDirs: ['/a:b', '/c'] }), /overlay lower directory "\/a:b" cannot be used in mount options/);
    assert.throws(() => overlayMount({ lowerDirs: ['/a', '/b'], upperDir: '/u,x', workDir: '/w' }), /upper directory/);
    assert.throws(() => overlayMount({ lowerDirs: ['rel', '/b'] }), /is not an absolute path/);
    assert.throws(() => overlayMount({ lowerDirs: ['/a'], upperDir: '/u' }), /needs both upperDir and workDir/);
    assert.throws(() => overlayMount({ lowerDirs: [] }), /at least one lower directory/);
  });

  it('switches to short links relative to the link dir when 150 absolute layer paths do not fit', () => {
    const lowerDirs = Array.from({ length: 150 }, (_, i) => layerPath(i));
    const lowerLinks = lowerDirs.map((_, i) => `L${i.toString().padStart(LINK_NAME_LENGTH - 1, '0')}`);
    const mount = overlayMount({
      lowerDirs,
      lowerLinks,
      linkDir: '/var/lib/berth/storage/overlay/l',
      upperDir: `/var/lib/berth/containers/${'c'.repeat(64)}/upper`,
      workDir: `/var/lib/berth/containers/${'c'.repeat(64)}/work`,
    });
    assert.equal(mount.cwd, '/var/lib/berth/storage/overlay/l');
    assert.equal(mount.options[0], `lowerdir=${lowerLinks.join(':')}`);
    const data = overlayMountData(mount);
    assert.ok(Buffer.byteLength(data) <= MOUNT_DATA_MAX, `${Buffer.byteLength(data)} bytes`);
  });

  it('fails with a clear error when even short links do not fit', () => {
    const lowerDirs = Array.from({ length: 400 }, (_, i) => layerPath(i));
    assert.throws(
      () => overlayMount({ lowerDirs }),
      (err: unknown) =>
        err instanceof BerthError &&
        err.code === 'FAILED_PRECONDITION' &&
        /^overlay mount options are \d+ bytes, over the 4095-byte limit of mount\(2\) \(400 layers\)$/.test(err.message),
    );
    assert.throws(
      () => overlayMount({ lowerDirs, lowerLinks: lowerDirs.map(() => 'X'.repeat(LINK_NAME_LENGTH)), linkDir: '/l' }),
      /over the 4095-byte limit of mount\(2\) \(400 layers\)/,
    );
  });
});

describe('createLayerLink', () => {
  it('creates a short relative symlink to the layer dir and removes it when asked', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'abc', 'diff'), { recursive: true });
    const name = await createLayerLink(join(dir, 'abc', 'diff'), join(dir, 'l'));
    assert.match(name, new RegExp(`^[A-Z2-7]{${LINK_NAME_LENGTH}}$`));
    assert.equal(await readlink(join(dir, 'l', name)), '../abc/diff');
    assert.equal(await realpath(join(dir, 'l', name)), await realpath(join(dir, 'abc', 'diff')));
    assert.equal(await readLayerLink(join(dir, 'l'), name), '../abc/diff');
    await removeLayerLink(join(dir, 'l'), name);
    assert.equal(await readLayerLink(join(dir, 'l'), name), undefined);
    await assert.rejects(removeLayerLink(join(dir, 'l'), '..'), /invalid short link name/);
  });
});

describe('overlay mounts of unpacked layers', { skip: !isRoot && 'needs root' }, () => {
  it('hides whited-out files and opaque dir contents when mounted for real', async (t) => {
    const { dir, mount } = await scratch(t);
    const lower = join(dir, 'lower');
    const upper = join(dir, 'upper');
    await unpackLayer([writeTar([
      { name: 'keep', data: 'kept' },
      { name: 'gone', data: 'should vanish' },
      { name: 'opq/old', data: 'hidden' },
      { name: 'opq/sub/older', data: 'hidden' },
      { name: 'plain/lower-file', data: 'visible' },
    ])], lower);
    await unpackLayer([writeTar([
      { name: '.wh.gone' },
      { name: 'opq/', type: 'dir' },
      { name: 'opq/.wh..wh..opq' },
      { name: 'opq/new', data: 'new' },
      { name: 'plain/upper-file', data: 'also' },
    ])], upper);
    const merged = join(dir, 'merged');
    await mkdir(merged);
    mount(overlayMount({ lowerDirs: [upper, lower] }), merged);
    assert.deepEqual((await readdir(merged)).sort(), ['keep', 'opq', 'plain']);
    assert.deepEqual(await readdir(join(merged, 'opq')), ['new']);
    assert.deepEqual((await readdir(join(merged, 'plain'))).sort(), ['lower-file', 'upper-file']);
    assert.equal(await readFile(join(merged, 'keep'), 'utf8'), 'kept');
  });

  it('mounts 150 layers through short links when the mounter chdirs into the link dir', async (t) => {
    const { dir, mount: mountAt } = await scratch(t);
    const store = join(dir, `store-${'s'.repeat(60)}`);
    const linkDir = join(store, 'l');
    const lowerDirs: string[] = [];
    const lowerLinks: string[] = [];
    for (let i = 0; i < 150; i++) {
      const layerDir = join(store, i.toString(16).padStart(64, '0'), 'diff');
      await mkdir(layerDir, { recursive: true });
      await writeFile(join(layerDir, `file-${i}`), String(i));
      lowerDirs.unshift(layerDir); // top-most first: the last layer made comes first
      lowerLinks.unshift(await createLayerLink(layerDir, linkDir));
    }
    await writeFile(join(lowerDirs[0] as string, 'file-0'), 'top wins');
    await mkdir(join(dir, 'upper'));
    await mkdir(join(dir, 'work'));
    const mount = overlayMount({ lowerDirs, lowerLinks, linkDir, upperDir: join(dir, 'upper'), workDir: join(dir, 'work') });
    assert.equal(mount.cwd, linkDir);
    const merged = join(dir, 'merged');
    await mkdir(merged);
    mountAt(mount, merged);
    const names = await readdir(merged);
    assert.equal(names.length, 150);
    assert.equal(await readFile(join(merged, 'file-0'), 'utf8'), 'top wins');
    assert.equal(await readFile(join(merged, 'file-77'), 'utf8'), '77');
    await writeFile(join(merged, 'written'), 'to upper');
    assert.equal(await readFile(join(dir, 'upper', 'written'), 'utf8'), 'to upper');
  });
});
