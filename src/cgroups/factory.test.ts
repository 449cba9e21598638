import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCgroupDriver } from './factory.ts';
import { V1Driver } from './v1.ts';
import { V2Driver } from './v2.ts';

describe('createCgroupDriver', () => {
  it('returns the v2 driver rooted at v2Dir when the layout is v2', () => {
    const driver = createCgroupDriver({ kind: 'v2', root: '/cg', v1Mounts: new Map(), v2Dir: '/cg', v2Controllers: ['memory'] });
    assert.ok(driver instanceof V2Driver);
    assert.deepEqual(driver.procsFilesOf('/berth/a'), ['/cg/berth/a/cgroup.procs']);
  });

  it('returns the v1 driver that ignores an unified mount without controllers when the layout is hybrid', () => {
    const layout = { kind: 'hybrid' as const, root: '/cg', v1Mounts: new Map([['memory', '/cg/memory'], ['pids', '/cg/pids']]), v2Dir: '/cg/unified', v2Controllers: [] };
    const driver = createCgroupDriver(layout);
    assert.ok(driver instanceof V1Driver);
    assert.deepEqual(driver.procsFilesOf('berth/a'), ['/cg/memory/berth/a/cgroup.procs', '/cg/pids/berth/a/cgroup.procs']);
  });

  it('joins the unified mount too when it carries controllers on a hybrid host', () => {
    const layout = { kind: 'hybrid' as const, root: '/cg', v1Mounts: new Map([['memory', '/cg/memory']]), v2Dir: '/cg/unified', v2Controllers: ['hugetlb'] };
    assert.deepEqual(createCgroupDriver(layout).procsFilesOf('/berth/a'), ['/cg/memory/berth/a/cgroup.procs', '/cg/unified/berth/a/cgroup.procs']);
  });
});
