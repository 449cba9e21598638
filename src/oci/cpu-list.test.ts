import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpuList } from './cpu-list.ts';

describe('parseCpuList', () => {
  it('reads single CPUs and ranges, in any order, once each', () => {
    assert.deepEqual(parseCpuList('0-3,7'), [0, 1, 2, 3, 7]);
    assert.deepEqual(parseCpuList('5,1-2,2'), [1, 2, 5]);
    assert.deepEqual(parseCpuList(' 4 '), [4]);
  });

  it('refuses what is not a CPU list', () => {
    for (const bad of ['', 'a', '3-1', '0-', ',1', '1,,2', '0-1024', '-1']) assert.equal(parseCpuList(bad), undefined, bad);
  });
});
