import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileDeviceRules, DEFAULT_DEVICE_RULES, deviceRuleWritesV1, formatDeviceRule } from './devices.ts';
import { BerthError } from '../common/index.ts';

describe('DEFAULT_DEVICE_RULES', () => {
  it('allows exactly mknod of any node and the standard devices when compiled', () => {
    const compiled = compileDeviceRules(DEFAULT_DEVICE_RULES);
    assert.equal(compiled.defaultAllow, false);
    assert.deepEqual(compiled.rules.map(formatDeviceRule).sort(), [
      'b *:* m',
      'c *:* m',
      'c 136:* rwm',
      'c 1:3 rwm',
      'c 1:5 rwm',
      'c 1:7 rwm',
      'c 1:8 rwm',
      'c 1:9 rwm',
      'c 5:0 rwm',
      'c 5:1 rwm',
      'c 5:2 rwm',
    ]);
    assert.ok(compiled.rules.every((rule) => rule.allow));
  });
});

describe('compileDeviceRules', () => {
  it('denies everything when the list is empty', () => {
    assert.deepEqual(compileDeviceRules([]), { defaultAllow: false, rules: [] });
  });

  it('resets to allow-all with a deny-list when an "a" allow rule comes later', () => {
    const compiled = compileDeviceRules([
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: true, type: 'a' },
      { allow: false, type: 'b', major: 8, minor: 0, access: 'w' },
    ]);
    assert.equal(compiled.defaultAllow, true);
    assert.deepEqual(compiled.rules, [{ allow: false, type: 'b', major: 8, minor: 0, access: 'w' }]);
  });

  it('merges and removes access bits of the same device when rules repeat it', () => {
    const compiled = compileDeviceRules([
      { allow: true, type: 'c', major: 10, minor: 200, access: 'r' },
      { allow: true, type: 'c', major: 10, minor: 200, access: 'wm' },
      { allow: false, type: 'c', major: 10, minor: 200, access: 'm' },
    ]);
    assert.deepEqual(compiled.rules.map(formatDeviceRule), ['c 10:200 rw']);
  });

  it('refuses to carve one device out of an earlier wildcard grant instead of silently ignoring it', () => {
    assert.throws(
      () => compileDeviceRules([{ allow: true, type: 'c', major: 1, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && /linux\.resources\.devices\[1\]/.test(err.message),
    );
  });

  it('fails naming the field when access has letters other than rwm', () => {
    assert.throws(
      () => compileDeviceRules([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rx' }]),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.startsWith('linux.resources.devices[0].access'),
    );
  });

  it('accepts "rwa" (configs write it; runc and crun take it) as "rw"', () => {
    const compiled = compileDeviceRules([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwa' }]);
    assert.deepEqual(compiled.rules.map(formatDeviceRule), ['c 1:3 rw']);
  });
});

describe('deviceRuleWritesV1', () => {
  it('denies all first then writes every rule in order when given the OCI list', () => {
    const writes = deviceRuleWritesV1([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: true, type: 'c', major: 136, access: 'rw' },
      { allow: false, type: 'c', major: 1, minor: 3, access: 'm' },
    ]);
    assert.deepEqual(
      writes.map((write) => `${write.file} ${write.value}`),
      ['devices.deny a', 'devices.deny a *:* rwm', 'devices.allow c 1:3 rwm', 'devices.allow c 136:* rw', 'devices.deny c 1:3 m'],
    );
  });
});
