import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../common/index.ts';
import { fakeImage, testContext } from './test-helpers.ts';

const isNotFound = (name: string) => (err: unknown) => err instanceof BerthError && err.code === 'NOT_FOUND' && err.message === `No such image: ${name}`;

describe('ImageStore', () => {
  it('resolves an image by short name, canonical name, full ID and ID prefix', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    ctx.store.add(image, { names: ['docker.io/library/busybox:latest'] });
    for (const ref of ['busybox', 'busybox:latest', 'docker.io/library/busybox:latest', image.id, image.id.slice(7), image.id.slice(7, 19), image.id.slice(0, 12)]) {
      assert.equal(ctx.store.resolve(ref).id, image.id, ref);
    }
    assert.throws(() => ctx.store.resolve('busybox:1.0'), isNotFound('busybox:1.0'));
    assert.throws(() => ctx.store.resolve('nothing'), isNotFound('nothing'));
  });

  it('finds an image by name@digest through its repo digest or its manifest digest', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    const repoDigest = 'sha256:' + 'd'.repeat(64);
    ctx.store.add(image, { names: ['localhost:5000/app:v1'], repoDigests: [`localhost:5000/app@${repoDigest}`] });
    assert.equal(ctx.store.resolve(`localhost:5000/app@${repoDigest}`).id, image.id);
    assert.equal(ctx.store.resolve(`localhost:5000/app@${image.manifestDigest}`).id, image.id);
    assert.throws(() => ctx.store.resolve(`localhost:5000/other@${repoDigest}`), isNotFound(`localhost:5000/other@${repoDigest}`));
  });

  it('refuses an ambiguous ID prefix', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    // find two images whose IDs share a first hex digit
    const images = Array.from({ length: 40 }, (_, i) => fakeImage(String(i)));
    const [a, b] = images.filter((im) => im.id[7] === images[0]!.id[7]) as [typeof images[0], typeof images[0]];
    assert.ok(b, 'two IDs with one first digit');
    ctx.store.add(a);
    ctx.store.add(b);
    assert.throws(() => ctx.store.resolve(a.id.slice(7, 8)), (err: unknown) => err instanceof BerthError && /ambiguous/.test(err.message));
  });

  it('moves a tag to a new image and reports the old one as dangling', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const old = fakeImage('old');
    const fresh = fakeImage('new');
    ctx.store.add(old, { names: ['docker.io/library/app:latest'] });
    const { danglingIds } = ctx.store.add(fresh, { names: ['docker.io/library/app:latest'] });
    assert.deepEqual(danglingIds, [old.id]);
    assert.equal(ctx.store.resolve('app').id, fresh.id);
    assert.deepEqual(ctx.store.get(old.id)?.names, []);
    assert.ok(ctx.store.isDangling(old.id));
  });

  it('keeps the config, layers and names of an image across reopening', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a', { labels: { team: 'x' } });
    ctx.store.add(image, { names: ['docker.io/library/a:1', 'docker.io/library/a:2'] });
    const record = ctx.store.get(image.id)!;
    assert.deepEqual(record.names, ['docker.io/library/a:1', 'docker.io/library/a:2']);
    assert.deepEqual(record.config.config?.Labels, { team: 'x' });
    assert.deepEqual(record.layers, image.layers);
    assert.equal(record.created, '2024-01-01T00:00:00Z');
    assert.equal(record.os, 'linux');
    assert.equal(record.architecture, 'amd64');
  });

  it('lists every blob and layer the records reference', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    ctx.store.add(image);
    const refs = ctx.store.references();
    assert.deepEqual([...refs.blobs].sort(), [image.id, image.manifestDigest, image.layers[0]!.digest].sort());
    assert.deepEqual([...refs.chainIds], [image.layers[0]!.chainId]);
    ctx.store.remove(image.id);
    assert.equal(ctx.store.references().blobs.size, 0);
  });
});
