import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownedName } from '../storage/index.ts';
import { writeTar } from '../../test/fixtures/tar-writer.ts';
import { withTempDir } from './context.ts';
import { collectGarbage, collectLeftovers } from './image-gc.ts';
import { pruneImages } from './image-remove.ts';
import { testContext } from './test-helpers.ts';

const DEAD = '4194304999-1';

describe('collectLeftovers', () => {
  it('removes staging dirs, layer temp dirs and ingest temp files when their owner is dead, keeping a live owner\'s', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const dead = [
      join(ctx.tmpDir, `load-${DEAD}-abcdef`),
      join(ctx.tmpDir, `import-${DEAD}-abcdef`),
      join(ctx.layers.overlayDir, `.tmp-${DEAD}-${'0'.repeat(16)}`),
      join(ctx.content.ingestDir, `.tmp-${DEAD}-${'0'.repeat(16)}`),
    ];
    for (const dir of dead.slice(0, 3)) mkdirSync(join(dir, 'x'), { recursive: true });
    mkdirSync(ctx.content.ingestDir, { recursive: true });
    writeFileSync(dead[3]!, 'partial blob');
    const liveIngest = join(ctx.content.ingestDir, ownedName('.tmp-'));
    writeFileSync(liveIngest, 'live');
    await withTempDir(ctx, 'load', async (liveDir) => {
      const result = await collectLeftovers(ctx);
      assert.deepEqual(result.removed.map((l) => l.path).sort(), [...dead].sort());
      assert.equal(result.reclaimed, 'partial blob'.length);
      assert.deepEqual(readdirSync(ctx.tmpDir), [liveDir.slice(ctx.tmpDir.length + 1)], 'the live staging dir stays');
    });
    assert.deepEqual(readdirSync(ctx.content.ingestDir), [liveIngest.slice(ctx.content.ingestDir.length + 1)]);
    assert.deepEqual(readdirSync(ctx.layers.overlayDir), []);
  });

  it('removes the short link a killed unpack left when the layer it points at is collected', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const tar = writeTar([{ name: 'a', data: 'a' }]);
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    await ctx.layers.unpack(diffId, [tar], { expectedDiffId: diffId });
    const [link] = readdirSync(ctx.layers.linkDir);
    // an unpack of the same layer, killed after making its link: the link points at this layer
    symlinkSync(readlinkSync(join(ctx.layers.linkDir, link!)), join(ctx.layers.linkDir, 'KILLEDUNPACK'));
    const result = await collectGarbage(ctx);
    assert.deepEqual(result.layers, [diffId], 'no image references the layer');
    assert.deepEqual(result.leftovers, [join(ctx.layers.linkDir, 'KILLEDUNPACK')]);
    assert.deepEqual(readdirSync(ctx.layers.linkDir), []);
  });

  it('keeps a partial download nobody resumes for a day, for the next pull, and removes it on prune', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    mkdirSync(ctx.content.ingestDir, { recursive: true });
    const partial = join(ctx.content.ingestDir, `sha256-${'a'.repeat(64)}`);
    writeFileSync(partial, 'first half');
    assert.deepEqual((await collectGarbage(ctx)).leftovers, [], 'after a pull, load or rmi it stays');
    const old = new Date(Date.now() - 25 * 3600_000);
    utimesSync(partial, old, old);
    assert.deepEqual((await collectGarbage(ctx)).leftovers, [partial], 'a day later it goes');
    writeFileSync(partial, 'first half');
    assert.equal((await pruneImages(ctx)).reclaimed, 'first half'.length, 'image prune removes it at once');
    assert.deepEqual(readdirSync(ctx.content.ingestDir), []);
  });
});
