import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BerthError } from '../common/index.ts';
import { writeTar, chunked } from '../../test/fixtures/tar-writer.ts';
import { LayerStore } from './layer-store.ts';
import { ownedName, ownerState } from './owner.ts';

const A = 'sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb'; // sha256("a")
const B = 'sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d'; // sha256("b")
const C = 'sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6'; // sha256("c")

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function tempLayers(t: { after: (fn: () => Promise<void>) => void }): Promise<LayerStore> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-layers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return new LayerStore(dir);
}

function layer(files: Record<string, string>): { tar: Buffer; gz: Buffer; diffId: string } {
  const tar = writeTar(Object.entries(files).map(([name, data]) => ({ name, data })));
  return { tar, gz: gzipSync(tar), diffId: sha256(tar) };
}

describe('LayerStore.chainIds', () => {
  it('computes OCI chain IDs (values checked with sha256sum)', () => {
    assert.deepEqual(LayerStore.chainIds([]), []);
    assert.deepEqual(LayerStore.chainIds([A, B, C]), [
      A,
      'sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676', // sha256("<A> <B>")
      'sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106', // sha256("<chain1> <C>")
    ]);
  });
});

describe('LayerStore', () => {
  it('unpacks a gzip layer into overlay/<chain>/diff with a short link and records it', async (t) => {
    const store = await tempLayers(t);
    const l = layer({ 'etc/hello': 'hi\n', 'bin/tool': 'x'.repeat(1000) });
    const [chainId] = LayerStore.chainIds([l.diffId]) as [string];
    const result = await store.unpack(chainId, chunked(l.gz, 100), { expectedDiffId: l.diffId });
    assert.deepEqual(result, { size: 1003, existed: false });
    assert.equal(store.diffDir(chainId), join(store.rootDir, 'overlay', chainId.slice(7), 'diff'));
    assert.equal(await readFile(join(store.diffDir(chainId), 'etc/hello'), 'utf8'), 'hi\n');
    const link = await readFile(join(store.layerDir(chainId), 'link'), 'utf8');
    assert.match(link, /^[A-Z2-7]{12}$/);
    assert.equal(resolve(store.linkDir, await readlink(join(store.linkDir, link))), store.diffDir(chainId));
    assert.equal(await store.has(chainId), true);
    assert.deepEqual(await store.list(), [chainId]);
    assert.deepEqual(await store.info(chainId), { version: 1, chainId, diffId: l.diffId, size: 1003, link });
    assert.deepEqual((await readdir(store.overlayDir)).sort(), [chainId.slice(7), 'l'].sort(), 'no temp dir is left');
  });

  it('refuses a layer whose content does not match its diff ID and keeps nothing', async (t) => {
    const store = await tempLayers(t);
    const l = layer({ a: 'real' });
    const claimed = sha256(Buffer.from('something else'));
    const [chainId] = LayerStore.chainIds([claimed]) as [string];
    await assert.rejects(store.unpack(chainId, [l.gz], { expectedDiffId: claimed }), (err: BerthError) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, new RegExp(`diff ID mismatch: the layer content hashes to ${l.diffId}`));
      return true;
    });
    assert.equal(await store.has(chainId), false);
    assert.deepEqual((await readdir(store.overlayDir)).filter((n) => n !== 'l'), [], 'no layer or temp dir is left');
    assert.deepEqual(await readdir(store.linkDir).catch(() => []), [], 'no short link is left');
  });

  it('does not unpack a layer twice: the second call reports it existed and leaves the stream unread', async (t) => {
    const store = await tempLayers(t);
    const l = layer({ f: 'data' });
    const [chainId] = LayerStore.chainIds([l.diffId]) as [string];
    await store.unpack(chainId, [l.gz], { expectedDiffId: l.diffId });
    let isRead = false;
    const second = await store.unpack(chainId, (async function* () {
      isRead = true;
      yield l.gz;
    })(), { expectedDiffId: l.diffId });
    assert.deepEqual(second, { size: 4, existed: true });
    assert.equal(isRead, false);
  });

  it('lets concurrent unpacks of one layer all succeed with one directory and one link', async (t) => {
    const store = await tempLayers(t);
    const l = layer({ 'a/b/c': 'deep', big: 'z'.repeat(200_000) });
    const [chainId] = LayerStore.chainIds([l.diffId]) as [string];
    const results = await Promise.all(Array.from({ length: 4 }, () => store.unpack(chainId, chunked(l.gz, 4096), { expectedDiffId: l.diffId })));
    assert.equal(results.filter((r) => !r.existed).length, 1);
    assert.equal(await readFile(join(store.diffDir(chainId), 'a/b/c'), 'utf8'), 'deep');
    assert.equal((await readdir(store.linkDir)).length, 1);
    assert.deepEqual((await readdir(store.overlayDir)).sort(), [chainId.slice(7), 'l'].sort());
  });

  it('lists lower dirs top-most first with their links, and removes a layer with its link', async (t) => {
    const store = await tempLayers(t);
    const base = layer({ base: '1' });
    const top = layer({ top: '2' });
    const chain = LayerStore.chainIds([base.diffId, top.diffId]) as [string, string];
    await store.unpack(chain[0], [base.tar], { expectedDiffId: base.diffId });
    await store.unpack(chain[1], [top.gz], { expectedDiffId: top.diffId });
    const lower = await store.lowerDirs(chain);
    assert.deepEqual(lower.lowerDirs, [store.diffDir(chain[1]), store.diffDir(chain[0])]);
    assert.equal(lower.lowerLinks[0], (await store.info(chain[1]))?.link);
    assert.equal(lower.linkDir, store.linkDir);
    await store.remove(chain[1]);
    assert.equal(await store.has(chain[1]), false);
    await assert.rejects(lstat(store.layerDir(chain[1])), { code: 'ENOENT' });
    assert.equal((await readdir(store.linkDir)).length, 1);
    assert.deepEqual(await store.list(), [chain[0]]);
    await assert.rejects(store.lowerDirs(chain), (err: BerthError) => err.code === 'NOT_FOUND');
    await store.remove(chain[1]); // removing what is gone is not an error
  });

  it('unpacks a layer whose diff ID is known only once read, under the chain ID it hashes to', async (t) => {
    const store = await tempLayers(t);
    const base = layer({ 'a.txt': 'a' });
    await store.unpack(base.diffId, [base.gz], { expectedDiffId: base.diffId });
    const top = layer({ 'b.txt': 'b' });
    const made = await store.unpackNew(base.diffId, [top.tar]);
    const chainId = LayerStore.chainIds([base.diffId, top.diffId])[1]!;
    assert.deepEqual({ ...made }, { size: 1, existed: false, chainId, diffId: top.diffId });
    assert.equal(await readFile(join(store.diffDir(chainId), 'b.txt'), 'utf8'), 'b');
    assert.equal((await store.info(chainId))?.diffId, top.diffId);
    const again = await store.unpackNew(base.diffId, [top.tar]);
    assert.equal(again.existed, true);
    assert.deepEqual((await readdir(store.overlayDir)).filter((n) => n.startsWith('.tmp-')), [], 'the second copy is gone');
    assert.equal((await store.unpackNew(undefined, [top.tar])).chainId, top.diffId, 'a base layer: its chain ID is its diff ID');
  });

  it('refuses chain IDs that are not sha256 digests (no path tricks)', async (t) => {
    const store = await tempLayers(t);
    assert.throws(() => store.diffDir('sha256:../../etc'), /invalid chain ID/);
    await assert.rejects(store.unpack('../x', [], { expectedDiffId: A }), /invalid chain ID/);
  });
});

describe('LayerStore.removeLeftovers', () => {
  it('removes temp and doomed dirs when their owner is dead, and keeps those of a live owner', async (t) => {
    const store = await tempLayers(t);
    const dead = join(store.overlayDir, `.tmp-4194304999-1-${'0'.repeat(16)}`);
    const doomed = join(store.overlayDir, `.rm-4194304999-1-${'1'.repeat(16)}`);
    const live = join(store.overlayDir, ownedName('.tmp-'));
    for (const dir of [dead, doomed, live]) await mkdir(join(dir, 'diff/etc'), { recursive: true });
    await writeFile(join(dead, 'diff/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    const removed = await store.removeLeftovers();
    assert.deepEqual(removed.map((l) => l.path).sort(), [dead, doomed].sort());
    assert.equal(removed.find((l) => l.path === dead)?.size, 26);
    assert.deepEqual(await readdir(store.overlayDir), [basename(live)]);
  });

  it('removes a short link that is no layer\'s only when told no unpack runs', async (t) => {
    const store = await tempLayers(t);
    const { gz, diffId } = layer({ a: 'a' });
    await store.unpack(diffId, [gz], { expectedDiffId: diffId });
    const kept = (await readdir(store.linkDir))[0]!;
    await symlink('../0000/diff', join(store.linkDir, 'DANGLINGLINK'));
    // a killed unpack's link to the same layer, which another unpack then put in place with its own
    await symlink(await readlink(join(store.linkDir, kept)), join(store.linkDir, 'DUPLICATELNK'));
    assert.deepEqual(await store.removeLeftovers(), [], 'an unpack may be between its link and its rename');
    assert.deepEqual((await store.removeLeftovers({ isIdle: true })).map((l) => l.path).sort(), [join(store.linkDir, 'DANGLINGLINK'), join(store.linkDir, 'DUPLICATELNK')]);
    assert.deepEqual(await readdir(store.linkDir), [kept]);
  });

  it('names its temp dir after its owner while it unpacks', async (t) => {
    const store = await tempLayers(t);
    const { gz, diffId } = layer({ a: 'a' });
    let seen: string[] = [];
    async function* slow() {
      seen = await readdir(store.overlayDir);
      yield gz;
    }
    await store.unpack(diffId, slow(), { expectedDiffId: diffId });
    assert.deepEqual(seen.filter((n) => n.startsWith('.tmp-')).map((n) => ownerState(n, '.tmp-')), ['alive']);
  });
});
