import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RLIM_INFINITY, rlimitNames, rlimitNumber } from './rlimits.ts';

describe('rlimits', () => {
  it('numbers the resources as Linux x86_64 does', () => {
    assert.deepEqual(rlimitNames(), [
      'RLIMIT_CPU',
      'RLIMIT_FSIZE',
      'RLIMIT_DATA',
      'RLIMIT_STACK',
      'RLIMIT_CORE',
      'RLIMIT_RSS',
      'RLIMIT_NPROC',
      'RLIMIT_NOFILE',
      'RLIMIT_MEMLOCK',
      'RLIMIT_AS',
      'RLIMIT_LOCKS',
      'RLIMIT_SIGPENDING',
      'RLIMIT_MSGQUEUE',
      'RLIMIT_NICE',
      'RLIMIT_RTPRIO',
      'RLIMIT_RTTIME',
    ]);
    assert.deepEqual(
      rlimitNames().map((name) => rlimitNumber(name)),
      Array.from({ length: 16 }, (_, i) => i),
    );
  });

  it('returns undefined when the name is unknown', () => {
    assert.equal(rlimitNumber('RLIMIT_FOO'), undefined);
    assert.equal(rlimitNumber('constructor'), undefined);
  });

  it('gives RLIM_INFINITY as the all-ones 64-bit value', () => {
    assert.equal(RLIM_INFINITY, 18446744073709551615n);
  });
});
