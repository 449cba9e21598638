import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { processStartTime } from './leases.ts';
import { testContext } from './test-helpers.ts';

describe('Leases', () => {
  it('keeps the collector out while a writer holds a lease, and lets it in after', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const write = await ctx.leases.acquireWrite();
    assert.equal(ctx.leases.tryAcquireGc(), undefined);
    write.release();
    const gc = ctx.leases.tryAcquireGc();
    assert.ok(gc);
    assert.equal(ctx.leases.tryAcquireGc(), undefined, 'one collection at a time');
    gc.release();
    assert.deepEqual(ctx.leases.live(), []);
  });

  it('makes a writer wait until a collection ends', async (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    const gc = ctx.leases.tryAcquireGc()!;
    let isAcquired = false;
    const waiting = ctx.leases.acquireWrite().then((lease) => {
      isAcquired = true;
      return lease;
    });
    await new Promise((done) => setTimeout(done, 120));
    assert.equal(isAcquired, false);
    gc.release();
    (await waiting).release();
    assert.equal(isAcquired, true);
  });

  it('drops a lease whose process is gone (or whose pid was reused)', (t) => {
    const { ctx, cleanup } = testContext();
    t.after(cleanup);
    ctx.db.run("INSERT INTO leases (id, kind, pid, pid_start, created_at) VALUES ('stale', 'write', ?, 'not-a-start-time', 0)", process.pid);
    assert.deepEqual(ctx.leases.live(), []);
    const gc = ctx.leases.tryAcquireGc();
    assert.ok(gc, 'a stale write lease does not block collection');
    gc.release();
    assert.equal(ctx.db.all("SELECT id FROM leases WHERE id = 'stale'").length, 0);
  });

  it('reads the start time of a live process and none of a missing one', () => {
    assert.match(processStartTime(process.pid) ?? '', /^\d+$/);
    assert.equal(processStartTime(2 ** 22 + 1), undefined);
  });
});
