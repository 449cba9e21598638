import assert from 'node:assert/strict';
import { execFileSync, execSync, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { SYNC_CHILD_TIMEOUT_MS } from '../fixtures/sync-timeouts.ts';

describe('the test run\'s timeout on synchronous children', () => {
  it('ends a child that hangs, even when a process it left holds its pipes', () => {
    assert.ok(SYNC_CHILD_TIMEOUT_MS >= 60_000, 'long enough for any honest child');
    const started = Date.now();
    // the call's own timeout stands in for the default (which is minutes): the wrapper keeps it
    const r = spawnSync('sh', ['-c', 'sleep 30 & sleep 30'], { encoding: 'utf8', timeout: 500 });
    assert.equal((r.error as NodeJS.ErrnoException | undefined)?.code, 'ETIMEDOUT');
    assert.equal(r.signal, 'SIGKILL', 'killed with SIGKILL: a child that ignores SIGTERM cannot hold the call');
    assert.ok(Date.now() - started < 10_000);
  });

  it('leaves every form of the calls working as before', () => {
    assert.equal(spawnSync('echo', ['a'], { encoding: 'utf8' }).stdout, 'a\n');
    assert.equal(spawnSync('true').status, 0);
    assert.equal(execFileSync('echo', ['b'], { encoding: 'utf8' }), 'b\n');
    assert.equal(execFileSync('echo', { encoding: 'utf8' }), '\n');
    assert.equal(execSync('echo c', { encoding: 'utf8' }), 'c\n');
    assert.equal(String(execSync('echo d')), 'd\n');
  });
});
