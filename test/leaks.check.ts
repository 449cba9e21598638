/**
 * Runs after every other test (scripts/test.mjs runs it last): the suite must leave no
 * mount, cgroup, network namespace, process, state dir or temp dir of berth behind
 * (what each finder matches: test/leaks.ts; that each can fail: test/integration/leaks.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findLeaks } from './leaks.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root';

describe('after the suite', { skip }, () => {
  const leaks = skip ? undefined : findLeaks();

  it('leaves no mount of berth', () => assert.deepEqual(leaks?.mounts, []));
  it('leaves no cgroup of berth in any hierarchy', () => assert.deepEqual(leaks?.cgroups, []));
  it('leaves no berth-init, however started, and no process in a cgroup of berth', () => assert.deepEqual(leaks?.processes, []));
  it('leaves no runtime state dir or temp dir of the tests', () => assert.deepEqual(leaks?.dirs, []));
  it('leaves no network namespace or veth of berth', () => assert.deepEqual(leaks?.network, []));
});
