import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { restartDelayMs, shouldRestart } from './container-lifecycle.ts';
import type { ContainerRecord } from './container-store.ts';
import type { RunSpec } from './container-spec.ts';

const rec = (spec: Partial<RunSpec>, fields: Partial<ContainerRecord> = {}): ContainerRecord =>
  ({ spec: { image: 'x', ...spec }, exitCode: 1, restartCount: 0, stoppedByUser: false, ...fields }) as ContainerRecord;

describe('restart policies', () => {
  it('restart as docker\'s do: always, unless-stopped unless stopped by hand, on-failure up to its count, never --rm', () => {
    assert.equal(shouldRestart(rec({})), false);
    assert.equal(shouldRestart(rec({ restart: { name: 'always' } }, { exitCode: 0 })), true);
    assert.equal(shouldRestart(rec({ restart: { name: 'always' } }, { stoppedByUser: true })), false);
    assert.equal(shouldRestart(rec({ restart: { name: 'unless-stopped' } })), true);
    assert.equal(shouldRestart(rec({ restart: { name: 'on-failure', maxRetries: 2 } }, { exitCode: 0 })), false);
    assert.equal(shouldRestart(rec({ restart: { name: 'on-failure', maxRetries: 2 } }, { restartCount: 1 })), true);
    assert.equal(shouldRestart(rec({ restart: { name: 'on-failure', maxRetries: 2 } }, { restartCount: 2 })), false);
    assert.equal(shouldRestart(rec({ restart: { name: 'on-failure', maxRetries: 0 } }, { restartCount: 99 })), true);
    assert.equal(shouldRestart(rec({ restart: { name: 'always' }, autoRemove: true })), false);
  });

  it('backs off as docker does: 100 ms doubling up to a minute, and back to 100 ms after a run of 10 s', () => {
    assert.deepEqual([0, 1, 2, 3, 10, 20].map((n) => restartDelayMs(n, 50)), [100, 200, 400, 800, 60_000, 60_000]);
    assert.equal(restartDelayMs(7, 10_000), 100);
  });
});
