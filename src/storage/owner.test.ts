import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ownedName, ownerState, ownerTag, processStartTime } from './owner.ts';

describe('ownerState', () => {
  it('says alive when the name carries this process, with its start time', () => {
    const name = ownedName('.tmp-');
    assert.match(name, new RegExp(`^\\.tmp-${process.pid}-${processStartTime(process.pid)}-[a-f0-9]{16}$`));
    assert.equal(ownerState(name, '.tmp-'), 'alive');
  });

  it('says dead when the owner pid is gone or was reused by another process', () => {
    assert.equal(ownerState('.tmp-4194304999-12345-abcd', '.tmp-'), 'dead', 'no such pid');
    const [pid, start] = ownerTag().split('-') as [string, string];
    assert.equal(ownerState(`.tmp-${pid}-${Number(start) + 1}-abcd`, '.tmp-'), 'dead', 'this pid, another start time');
  });

  it('says unknown when the name carries no owner', () => {
    assert.equal(ownerState('.tmp-0123456789abcdef', '.tmp-'), 'unknown');
    assert.equal(ownerState('other', '.tmp-'), 'unknown');
  });
});
