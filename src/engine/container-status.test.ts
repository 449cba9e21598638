import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertTransition, canTransition, describeStatus } from './container-status.ts';

describe('container status', () => {
  it('allows each verb only in the states docker allows it, refusing with docker\'s words', () => {
    assert.equal(canTransition('start', 'exited'), true);
    assert.equal(canTransition('pause', 'exited'), false);
    const id = 'abcdef0123456789'.repeat(4);
    assert.throws(() => assertTransition('remove', 'running', id), new RegExp(`You cannot remove a running container ${id}\\. Stop the container before attempting removal or force remove`));
    assert.throws(() => assertTransition('exec', 'paused', id), /Container abcdef012345 is paused, unpause the container before exec/);
    assert.throws(() => assertTransition('kill', 'exited', id), /Container abcdef012345 is not running/);
    assert.throws(() => assertTransition('unpause', 'running', id), /Container abcdef012345 is not paused/);
    assert.throws(() => assertTransition('start', 'paused', id), /cannot start a paused container, try unpause instead/);
  });

  it('describes a status as docker ps does', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    assert.equal(describeStatus('created', '', '', 0, now), 'Created');
    assert.equal(describeStatus('running', '2026-12-04T11:57:00Z', '', 0, now), 'Up 3 minutes');
    assert.equal(describeStatus('paused', '2026-12-04T11:59:59Z', '', 0, now), 'Up 1 second (Paused)');
    assert.equal(describeStatus('exited', '', '2026-12-04T10:00:00Z', 137, now), 'Exited (137) 2 hours ago');
    // never "NaN years ago": a time that was never recorded is left out
    assert.equal(describeStatus('exited', '', '', 0, now), 'Exited (0)');
    assert.equal(describeStatus('running', '', '', 0, now), 'Up');
  });
});
