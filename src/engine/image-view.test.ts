import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imageHistory, imageSummary, inspectImage } from './image-view.ts';
import { fakeImage, testContext } from './test-helpers.ts';

describe('image views', () => {
  it('inspect has docker\'s shape: Id, RepoTags, Config, RootFS layers, Size, platform', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a', { labels: { a: 'b' } });
    ctx.store.add(image, { names: ['docker.io/library/a:1'] });
    const view = inspectImage(ctx.store.resolve('a:1'));
    assert.deepEqual(Object.keys(view), ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'GraphDriver', 'RootFS', 'Metadata']);
    assert.equal(view.Id, image.id);
    assert.deepEqual(view.RepoTags, ['a:1']);
    assert.deepEqual(view.Config.Cmd, ['sh']);
    assert.equal(view.Config.Env, null);
    assert.deepEqual(view.Config.Labels, { a: 'b' });
    assert.deepEqual(view.RootFS, { Type: 'layers', Layers: image.config.rootfs.diff_ids });
    assert.equal(view.Size, 90);
    assert.equal(view.Architecture, 'amd64');
    assert.equal(view.Os, 'linux');
  });

  it('history is newest first, with the image ID on top and layer sizes on non-empty entries', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const image = fakeImage('a');
    image.config.history = [
      { created: '2024-01-01T00:00:00Z', created_by: 'ADD rootfs' },
      { created: '2024-01-02T00:00:00Z', created_by: 'CMD ["sh"]', empty_layer: true },
    ];
    ctx.store.add(image, { names: ['docker.io/library/a:1'] });
    const history = imageHistory(ctx.store.resolve('a:1'));
    assert.deepEqual(history.map((h) => [h.Id, h.CreatedBy, h.Size, h.Tags]), [
      [image.id, 'CMD ["sh"]', 0, ['a:1']],
      ['<missing>', 'ADD rootfs', 90, null],
    ]);
    assert.equal(history[1]!.Created, Date.parse('2024-01-01T00:00:00Z') / 1000);
  });

  it('summary carries creation time in seconds and labels', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    ctx.store.add(fakeImage('a', { labels: { x: 'y' } }));
    const [summary] = ctx.store.list().map((i) => imageSummary(i));
    assert.equal(summary!.Created, 1704067200);
    assert.deepEqual(summary!.Labels, { x: 'y' });
    assert.deepEqual(summary!.RepoTags, []);
  });
});
