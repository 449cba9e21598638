import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileV1, DEFAULT_V1_PROBE } from './resources-v1.ts';
import type { V1Probe } from './resources-v1.ts';
import type { CgroupResources } from './resources.ts';
import { BerthError } from '../common/index.ts';

const MiB = 1024 * 1024;
const lines = (resources: CgroupResources, probe: Partial<V1Probe> = {}) =>
  compileV1(resources, { ...DEFAULT_V1_PROBE, ...probe }).writes.map((write) => `${write.file}=${write.value}`);

function invalidField(field: string) {
  return (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.includes(field);
}

describe('compileV1', () => {
  it('writes -1 to limit and memsw when memory is unlimited', () => {
    assert.deepEqual(lines({ memory: { limit: -1 } }), ['memory.memsw.limit_in_bytes=-1', 'memory.limit_in_bytes=-1']);
  });

  it('writes memsw before the limit when raising both above the current limit', () => {
    assert.deepEqual(lines({ memory: { limit: 256 * MiB, swap: 512 * MiB } }, { memoryLimit: BigInt(64 * MiB) }), [
      `memory.memsw.limit_in_bytes=${512 * MiB}`,
      `memory.limit_in_bytes=${256 * MiB}`,
    ]);
  });

  it('writes the limit before memsw when lowering both below the current limit', () => {
    assert.deepEqual(lines({ memory: { limit: 64 * MiB, swap: 128 * MiB } }, { memoryLimit: BigInt(1024 * MiB) }), [
      `memory.limit_in_bytes=${64 * MiB}`,
      `memory.memsw.limit_in_bytes=${128 * MiB}`,
    ]);
  });

  it('takes OCI swap as the memory+swap total when writing memsw', () => {
    assert.deepEqual(lines({ memory: { limit: 64 * MiB, swap: 64 * MiB } }, { memoryLimit: BigInt(32 * MiB) }), [
      `memory.memsw.limit_in_bytes=${64 * MiB}`,
      `memory.limit_in_bytes=${64 * MiB}`,
    ]);
  });

  it('refuses memory+swap below the memory limit naming linux.resources.memory.swap', () => {
    assert.throws(() => lines({ memory: { limit: 128 * MiB, swap: 64 * MiB } }), invalidField('linux.resources.memory.swap'));
  });

  it('refuses a swap limit when the kernel does not account swap', () => {
    assert.throws(() => lines({ memory: { limit: 64 * MiB, swap: 128 * MiB } }, { hasMemsw: false }), invalidField('linux.resources.memory.swap'));
    assert.deepEqual(lines({ memory: { limit: -1 } }, { hasMemsw: false }), ['memory.limit_in_bytes=-1']);
  });

  it('maps reservation, swappiness and disableOOMKiller to their v1 files', () => {
    assert.deepEqual(lines({ memory: { reservation: 32 * MiB, swappiness: 10, disableOOMKiller: true } }), [
      `memory.soft_limit_in_bytes=${32 * MiB}`,
      'memory.swappiness=10',
      'memory.oom_control=1',
    ]);
  });

  it('reports kernel memory as unenforced instead of writing it', () => {
    const compiled = compileV1({ memory: { kernel: 64 * MiB } }, DEFAULT_V1_PROBE);
    assert.deepEqual(compiled.writes, []);
    assert.equal(compiled.unenforced[0]?.field, 'linux.resources.memory.kernel');
  });

  it('writes period (retried after EINVAL), quota, shares and burst when cpu is set', () => {
    const compiled = compileV1({ cpu: { shares: 512, quota: 50000, period: 100000, burst: 10000 } }, DEFAULT_V1_PROBE);
    assert.deepEqual(
      compiled.writes.map((write) => `${write.file}=${write.value}${write.isRetriedAfterEinval ? ' (retried)' : ''}`),
      ['cpu.shares=512', 'cpu.cfs_period_us=100000 (retried)', 'cpu.cfs_burst_us=10000 (retried)', 'cpu.cfs_quota_us=50000'],
    );
  });

  it('writes -1 to cfs_quota_us when the quota is unlimited', () => {
    assert.deepEqual(lines({ cpu: { quota: -1 } }), ['cpu.cfs_quota_us=-1']);
  });

  it('writes realtime period then runtime and cpuset cpus/mems', () => {
    assert.deepEqual(lines({ cpu: { realtimePeriod: 1000000, realtimeRuntime: 950000, cpus: '0-1, 3', mems: '0' } }), [
      'cpu.rt_period_us=1000000',
      'cpu.rt_runtime_us=950000',
      'cpuset.cpus=0-1,3',
      'cpuset.mems=0',
    ]);
  });

  it('writes "max" for pids -1, and nothing for 0 ("not set", as runc reads it: no limit)', () => {
    assert.deepEqual(lines({ pids: { limit: -1 } }), ['pids.max=max']);
    assert.deepEqual(lines({ pids: { limit: 0 } }), []);
    assert.deepEqual(lines({ pids: { limit: 20 } }), ['pids.max=20']);
  });

  it('maps blkio weights and throttles to one line per device', () => {
    assert.deepEqual(
      lines({
        blockIO: {
          weight: 500,
          weightDevice: [{ major: 8, minor: 0, weight: 300 }],
          throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
          throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
        },
      }),
      ['blkio.weight=500', 'blkio.weight_device=8:0 300', 'blkio.throttle.read_bps_device=8:0 1048576', 'blkio.throttle.write_iops_device=8:16 100'],
    );
  });

  it('falls back to the BFQ weight files when blkio.weight is missing', () => {
    assert.deepEqual(lines({ blockIO: { weight: 500 } }, { hasBlkioWeight: false, hasBfqWeight: true }), ['blkio.bfq.weight=500']);
    assert.throws(() => lines({ blockIO: { weight: 500 } }, { hasBlkioWeight: false, hasBfqWeight: false }), invalidField('linux.resources.blockIO.weight'));
  });

  it('maps hugepage limits, net_cls and net_prio to their v1 files', () => {
    assert.deepEqual(
      lines({ hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }], network: { classID: 0x100001, priorities: [{ name: 'eth0', priority: 5 }] } }),
      [`hugetlb.2MB.limit_in_bytes=${4 * MiB}`, 'net_cls.classid=1048577', 'net_prio.ifpriomap=eth0 5'],
    );
  });

  it('refuses unified with INVALID_ARGUMENT naming linux.resources.unified', () => {
    assert.throws(
      () => lines({ unified: { 'memory.high': '1G' } }),
      (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && /^linux\.resources\.unified .*cgroup v1/.test(err.message),
    );
  });

  it('refuses a non-integer value naming its field', () => {
    assert.throws(() => lines({ pids: { limit: 1.5 } }), invalidField('linux.resources.pids.limit'));
    assert.throws(() => lines({ cpu: { shares: 'many' as unknown as number } }), invalidField('linux.resources.cpu.shares'));
  });

  it('keeps 64-bit values exact when they arrive as bigint', () => {
    assert.deepEqual(lines({ memory: { limit: 9223372036854771712n } }, { memoryLimit: 0n }), ['memory.limit_in_bytes=9223372036854771712']);
  });

  it('writes only the given sections when asked for a subset', () => {
    const compiled = compileV1({ memory: { limit: 64 * MiB }, pids: { limit: 5 } }, DEFAULT_V1_PROBE, ['pids']);
    assert.deepEqual(compiled.writes.map((write) => write.file), ['pids.max']);
  });
});
