import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../common/index.ts';
import { familiarReference, pruneImages, removeImage } from './image-remove.ts';
import { fakeImage, testContext } from './test-helpers.ts';
import type { ImageUser } from './context.ts';

describe('removeImage', () => {
  it('only untags while another tag names the image, and deletes it with the last one', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    ctx.store.add(image, { names: ['docker.io/library/a:1', 'docker.io/library/b:1'] });
    assert.deepEqual(await removeImage(ctx, 'a:1'), [{ Untagged: 'a:1' }]);
    assert.ok(ctx.store.get(image.id));
    assert.deepEqual(await removeImage(ctx, 'b:1'), [{ Untagged: 'b:1' }, { Deleted: image.id }]);
    assert.equal(ctx.store.get(image.id), undefined);
  });

  it('drops the repo digests of a repository with its last tag', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    const digest = 'sha256:' + 'e'.repeat(64);
    ctx.store.add(image, { names: ['docker.io/library/a:1'], repoDigests: [`docker.io/library/a@${digest}`] });
    assert.deepEqual(await removeImage(ctx, 'a:1'), [{ Untagged: 'a:1' }, { Untagged: `a@${digest}` }, { Deleted: image.id }]);
  });

  it('by ID: removes every name of one repository, refuses names in several without force', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    ctx.store.add(image, { names: ['docker.io/library/a:1', 'docker.io/library/b:1'] });
    await assert.rejects(removeImage(ctx, image.id.slice(7, 19)), (err: unknown) => err instanceof BerthError && err.code === 'CONFLICT' && /multiple repositories/.test(err.message));
    assert.ok(ctx.store.get(image.id), 'nothing removed by the refused call');
    const entries = await removeImage(ctx, image.id, { force: true });
    assert.deepEqual(entries, [{ Untagged: 'a:1' }, { Untagged: 'b:1' }, { Deleted: image.id }]);
  });

  it('refuses to delete an image a container uses, and with force only untags it', async (t) => {
    const image = fakeImage('a');
    const inUse = new Map<string, ImageUser>([[image.id, { containerId: 'c0ffee'.repeat(10), isRunning: false }]]);
    const { ctx, cleanup } = testContext({ inUse });
    t.after(cleanup);
    ctx.store.add(image, { names: ['docker.io/library/a:1'] });
    await assert.rejects(removeImage(ctx, 'a:1'), (err: unknown) => err instanceof BerthError && err.code === 'CONFLICT' && /stopped container c0ffeec0ffee/.test(err.message));
    assert.deepEqual(ctx.store.get(image.id)?.names, ['docker.io/library/a:1']);
    assert.deepEqual(await removeImage(ctx, 'a:1', { force: true }), [{ Untagged: 'a:1' }]);
    assert.ok(ctx.store.get(image.id), 'the container keeps its image');
  });

  it('names a missing image in its error', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    await assert.rejects(removeImage(ctx, 'ghost:1'), (err: unknown) => err instanceof BerthError && err.code === 'NOT_FOUND' && err.message === 'No such image: ghost:1');
  });
});

describe('pruneImages', () => {
  it('removes dangling images, and with all every unused one, filtered by label', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const dangling = fakeImage('d');
    const keep = fakeImage('k', { labels: { keep: 'yes' } });
    const other = fakeImage('o');
    ctx.store.add(dangling);
    ctx.store.add(keep, { names: ['docker.io/library/keep:1'] });
    ctx.store.add(other, { names: ['docker.io/library/other:1'] });
    assert.deepEqual((await pruneImages(ctx)).entries, [{ Deleted: dangling.id }]);
    const result = await pruneImages(ctx, { all: true, labelFilters: [{ key: 'keep', negate: true }] });
    assert.deepEqual(result.entries, [{ Untagged: 'other:1' }, { Deleted: other.id }]);
    assert.deepEqual(ctx.store.list().map((i) => i.id), [keep.id]);
  });
});

describe('familiarReference', () => {
  it('shortens docker.io names and keeps other registries', () => {
    assert.equal(familiarReference('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiarReference('docker.io/user/app@sha256:' + 'a'.repeat(64)), 'user/app@sha256:' + 'a'.repeat(64));
    assert.equal(familiarReference('localhost:5000/ns/app:v1'), 'localhost:5000/ns/app:v1');
  });
});
