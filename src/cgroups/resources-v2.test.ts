import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { blkioWeightToIoWeight, compileV2, cpuSharesToWeight, DEFAULT_V2_PROBE, memorySwapToV2 } from './resources-v2.ts';
import type { V2Probe } from './resources-v2.ts';
import type { CgroupResources } from './resources.ts';
import { BerthError } from '../common/index.ts';

const MiB = 1024 * 1024;
const lines = (resources: CgroupResources, probe: Partial<V2Probe> = {}) =>
  compileV2(resources, { ...DEFAULT_V2_PROBE, ...probe }).writes.map((write) => `${write.file}=${write.value}`);

function invalidField(field: string) {
  return (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.includes(field);
}

describe('cpuSharesToWeight', () => {
  // Expected values: the table of opencontainers/cgroups utils_test.go (min, min+1, default, max-1,
  // max, out of range) and the quadratic formula computed by hand for 512.
  it('maps the v1 minimum, default and maximum onto the v2 ones', () => {
    assert.equal(cpuSharesToWeight(2), 1);
    assert.equal(cpuSharesToWeight(1024), 100);
    assert.equal(cpuSharesToWeight(262144), 10000);
  });

  it('clamps out-of-range shares and keeps 0 as unset', () => {
    assert.equal(cpuSharesToWeight(0), 0);
    assert.equal(cpuSharesToWeight(1), 1);
    assert.equal(cpuSharesToWeight(3), 2);
    assert.equal(cpuSharesToWeight(262143), 10000);
    assert.equal(cpuSharesToWeight(1_000_000), 10000);
  });

  it('follows the quadratic curve between the fixed points, not the old linear one', () => {
    // Linear (runc < 1.3.2) gave 1024 → 39 and 512 → 20.
    assert.equal(cpuSharesToWeight(512), 59);
    assert.equal(cpuSharesToWeight(2048), 174);
  });
});

describe('memorySwapToV2', () => {
  it('turns memory+swap into swap alone when both are limited', () => {
    assert.equal(memorySwapToV2(BigInt(128 * MiB), BigInt(64 * MiB)), BigInt(64 * MiB));
    assert.equal(memorySwapToV2(BigInt(64 * MiB), BigInt(64 * MiB)), 0n);
  });

  it('keeps unlimited and unset as they are and makes swap unlimited with unlimited memory', () => {
    assert.equal(memorySwapToV2(-1n, BigInt(64 * MiB)), -1n);
    assert.equal(memorySwapToV2(undefined, BigInt(64 * MiB)), undefined);
    assert.equal(memorySwapToV2(undefined, -1n), -1n);
  });

  it('refuses swap below memory, or swap without a memory limit', () => {
    assert.throws(() => memorySwapToV2(BigInt(32 * MiB), BigInt(64 * MiB)), invalidField('linux.resources.memory.swap'));
    assert.throws(() => memorySwapToV2(BigInt(32 * MiB), undefined), invalidField('linux.resources.memory.swap'));
  });
});

describe('compileV2', () => {
  it('writes "max" for unlimited memory and swap when the limit is -1', () => {
    assert.deepEqual(lines({ memory: { limit: -1 } }), ['memory.max=max', 'memory.swap.max=max']);
  });

  it('writes memory.max, swap.max = swap - limit, and memory.low for the reservation', () => {
    assert.deepEqual(lines({ memory: { limit: 64 * MiB, swap: 96 * MiB, reservation: 16 * MiB } }), [
      `memory.max=${64 * MiB}`,
      `memory.swap.max=${32 * MiB}`,
      `memory.low=${16 * MiB}`,
    ]);
  });

  it('uses the current memory.max when only swap is updated', () => {
    assert.deepEqual(lines({ memory: { swap: 96 * MiB } }, { memoryMax: BigInt(64 * MiB) }), [`memory.swap.max=${32 * MiB}`]);
  });

  it('refuses v1-only memory settings naming each field', () => {
    assert.throws(() => lines({ memory: { swappiness: 10 } }), invalidField('linux.resources.memory.swappiness'));
    assert.throws(() => lines({ memory: { disableOOMKiller: true } }), invalidField('linux.resources.memory.disableOOMKiller'));
    assert.throws(() => lines({ memory: { kernelTCP: MiB } }), invalidField('linux.resources.memory.kernelTCP'));
  });

  it('writes cpu.weight from shares and cpu.max as "quota period"', () => {
    assert.deepEqual(lines({ cpu: { shares: 1024, quota: 50000, period: 100000 } }), ['cpu.weight=100', 'cpu.max=50000 100000']);
  });

  it('writes "max period" for an unlimited quota and a lone quota to keep the period', () => {
    assert.deepEqual(lines({ cpu: { quota: -1, period: 250000 } }), ['cpu.max=max 250000']);
    assert.deepEqual(lines({ cpu: { quota: 20000 } }), ['cpu.max=20000']);
  });

  it('keeps the current quota when only the period changes', () => {
    assert.deepEqual(lines({ cpu: { period: 50000 } }, { cpuMax: '20000 100000\n' }), ['cpu.max=20000 50000']);
    assert.deepEqual(lines({ cpu: { period: 50000 } }, { cpuMax: 'max 100000\n' }), ['cpu.max=max 50000']);
  });

  it('writes burst, idle and cpuset files and refuses realtime', () => {
    assert.deepEqual(lines({ cpu: { burst: 1000, idle: 1, cpus: '0', mems: '0' } }), ['cpu.max.burst=1000', 'cpu.idle=1', 'cpuset.cpus=0', 'cpuset.mems=0']);
    assert.throws(() => lines({ cpu: { realtimeRuntime: 950000 } }), invalidField('linux.resources.cpu.realtimeRuntime'));
  });

  it('writes pids.max "max" for -1, and nothing for 0 (runc: not set, no limit)', () => {
    assert.deepEqual(lines({ pids: { limit: -1 } }), ['pids.max=max']);
    assert.deepEqual(lines({ pids: { limit: 0 } }), []);
    assert.deepEqual(lines({ pids: { limit: 20 } }), ['pids.max=20']);
  });

  it('uses io.bfq.weight with the blkio value when BFQ is there, else io.weight converted', () => {
    assert.deepEqual(lines({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 100 }] } }, { hasBfqWeight: true }), [
      'io.bfq.weight=500',
      'io.bfq.weight=8:0 100',
    ]);
    assert.deepEqual(lines({ blockIO: { weight: 500 } }, { hasBfqWeight: false, hasIoWeight: true }), ['io.weight=4950']);
    assert.equal(blkioWeightToIoWeight(10), 1);
    assert.equal(blkioWeightToIoWeight(1000), 10000);
  });

  it('fails with FAILED_PRECONDITION when no io weight file exists', () => {
    assert.throws(
      () => lines({ blockIO: { weight: 500 } }, { hasBfqWeight: false, hasIoWeight: false }),
      (err: unknown) => err instanceof BerthError && err.code === 'FAILED_PRECONDITION' && err.message.includes('linux.resources.blockIO.weight'),
    );
  });

  it('writes throttles as io.max lines, 0 meaning no limit', () => {
    assert.deepEqual(
      lines({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }], throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 0 }] } }),
      ['io.max=8:0 rbps=1048576', 'io.max=8:0 wiops=max'],
    );
  });

  it('writes hugetlb.<size>.max and passes unified files through last', () => {
    assert.deepEqual(lines({ hugepageLimits: [{ pageSize: '2MB', limit: -1 }], unified: { 'memory.high': '1G' }, pids: { limit: 3 } }), [
      'pids.max=3',
      'hugetlb.2MB.max=max',
      'memory.high=1G',
    ]);
  });

  it('refuses unified keys that are not interface files or that the runtime owns', () => {
    assert.throws(() => lines({ unified: { '../x': '1' } }), invalidField('linux.resources.unified["../x"]'));
    assert.throws(() => lines({ unified: { 'cgroup.procs': '1' } }), invalidField('linux.resources.unified["cgroup.procs"]'));
  });

  it('reports device rules as unenforced and returns them compiled for the eBPF program', () => {
    const compiled = compileV2({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] }, DEFAULT_V2_PROBE);
    assert.deepEqual(compiled.writes, []);
    assert.equal(compiled.unenforced[0]?.field, 'linux.resources.devices');
    assert.deepEqual(compiled.deviceRules, { defaultAllow: false, rules: [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] });
  });

  it('refuses net_cls and net_prio, which have no v2 controller', () => {
    assert.throws(() => lines({ network: { classID: 1 } }), invalidField('linux.resources.network.classID'));
  });
});
