import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../common/index.ts';
import { CAPABILITIES, capabilityMask, capabilityNames, capabilityNumber, isKnownCapability, LAST_CAPABILITY } from './capabilities.ts';

describe('capabilities', () => {
  it('numbers every capability from CAP_CHOWN 0 to CAP_CHECKPOINT_RESTORE 40 without gaps', () => {
    const names = capabilityNames();
    assert.equal(names.length, LAST_CAPABILITY + 1);
    assert.deepEqual(
      names.map((n) => CAPABILITIES[n]),
      Array.from({ length: 41 }, (_, i) => i),
    );
    assert.equal(names[0], 'CAP_CHOWN');
    assert.equal(names[40], 'CAP_CHECKPOINT_RESTORE');
  });

  it('knows the numbers the kernel headers give', () => {
    assert.equal(capabilityNumber('CAP_NET_BIND_SERVICE'), 10);
    assert.equal(capabilityNumber('CAP_SYS_ADMIN'), 21);
    assert.equal(capabilityNumber('CAP_AUDIT_WRITE'), 29);
    assert.equal(capabilityNumber('CAP_PERFMON'), 38);
    assert.equal(capabilityNumber('CAP_BPF'), 39);
    assert.equal(capabilityNumber('NET_ADMIN'), undefined);
    assert.equal(isKnownCapability('toString'), false);
  });
});

describe('capabilityMask', () => {
  it('sets one bit per capability when given names', () => {
    assert.equal(capabilityMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']), (1n << 29n) | (1n << 5n) | (1n << 10n));
    assert.equal(capabilityMask([]), 0n);
    assert.equal(capabilityMask(['CAP_KILL', 'CAP_KILL']), 1n << 5n);
  });

  it('uses the upper 32 bits when given capabilities above 31', () => {
    assert.equal(capabilityMask(['CAP_CHECKPOINT_RESTORE']), 0x100_0000_0000n);
    assert.equal(capabilityMask(capabilityNames()), (1n << 41n) - 1n);
  });

  it('rejects an unknown name when building a mask', () => {
    assert.throws(
      () => capabilityMask(['CAP_KILL', 'sys_admin']),
      (err: unknown) =>
        err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message === 'unknown capability "sys_admin"' && err.hint === 'did you mean "CAP_SYS_ADMIN"?',
    );
  });
});
