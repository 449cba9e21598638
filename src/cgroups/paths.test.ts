import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeCgroupPath } from './paths.ts';
import { BerthError } from '../common/index.ts';

describe('normalizeCgroupPath', () => {
  it('takes relative and absolute paths from the hierarchy root when given either', () => {
    assert.equal(normalizeCgroupPath('/berth/abc'), 'berth/abc');
    assert.equal(normalizeCgroupPath('berth/abc'), 'berth/abc');
    assert.equal(normalizeCgroupPath('//berth/./abc/'), 'berth/abc');
  });

  it('refuses the root itself and ".." escapes with INVALID_ARGUMENT naming linux.cgroupsPath', () => {
    for (const bad of ['/', '', '/berth/../..', '../x']) {
      assert.throws(
        () => normalizeCgroupPath(bad),
        (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.startsWith('linux.cgroupsPath'),
        bad,
      );
    }
  });
});
