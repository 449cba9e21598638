import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FullStats } from '../../engine/index.ts';
import { goFileMode, statsJson, untilMs } from './containers.ts';

const reading = (over: Partial<FullStats['cgroup']>, at: number): FullStats => ({
  readAt: new Date(at),
  cgroup: {
    cpu: { usage: { total: 2e9, percpu: [], kernel: 5e8, user: 1.5e9 }, throttling: { periods: 10, throttledPeriods: 2, throttledTime: 1e6 } },
    memory: { usage: { usage: 50 << 20, max: 0, limit: 64 << 20, failcnt: 0 }, swap: { usage: 0, max: 0, limit: null, failcnt: 0 }, cache: 0, raw: { inactive_file: 10 << 20, anon: 40 << 20 } },
    pids: { current: 3, limit: null },
    blkio: { ioServiceBytesRecursive: [{ major: 8, minor: 0, op: 'Read', value: 4096 }], ioServicedRecursive: [] },
    ...over,
  },
  networks: { eth0: { rxBytes: 100, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 200, txPackets: 2, txErrors: 0, txDropped: 0 } },
  systemCpuNs: 1e12,
  onlineCpus: 2,
  hostMemory: 16 * 2 ** 30,
});

describe('docker API: stats JSON', () => {
  it('has the shape the docker CLI reads, from a cgroup v2 reading (no per-CPU figures)', () => {
    const doc = statsJson('abc', 'web', reading({}, 2000), reading({}, 1000)) as Record<string, any>;
    assert.equal(doc.name, '/web');
    assert.equal(doc.cpu_stats.cpu_usage.total_usage, 2e9);
    assert.equal(doc.cpu_stats.cpu_usage.percpu_usage, undefined, 'v2 has no per-CPU usage');
    assert.deepEqual([doc.cpu_stats.system_cpu_usage, doc.cpu_stats.online_cpus], [1e12, 2]);
    assert.equal(doc.precpu_stats.cpu_usage.total_usage, 2e9);
    // the CLI shows usage - inactive_file (v2) of the limit
    assert.deepEqual([doc.memory_stats.usage, doc.memory_stats.stats.inactive_file, doc.memory_stats.limit], [50 << 20, 10 << 20, 64 << 20]);
    assert.deepEqual(doc.pids_stats, { current: 3 });
    assert.deepEqual(doc.blkio_stats.io_service_bytes_recursive, [{ major: 8, minor: 0, op: 'read', value: 4096 }]);
    assert.equal(doc.networks.eth0.tx_bytes, 200);
    assert.equal(doc.read, new Date(2000).toISOString());
  });

  it('gives per-CPU usage on cgroup v1, the host\'s memory when unlimited, zeros when not running', () => {
    const v1 = statsJson('abc', 'web', reading({ cpu: { usage: { total: 3, percpu: [1, 2], kernel: 0, user: 3 }, throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 } } }, 1), undefined) as Record<string, any>;
    assert.deepEqual(v1.cpu_stats.cpu_usage.percpu_usage, [1, 2]);
    assert.equal(v1.preread, '0001-01-01T00:00:00Z');
    const unlimited = statsJson('abc', 'web', reading({ memory: { usage: { usage: 1, max: 0, limit: null, failcnt: 0 }, swap: { usage: 0, max: 0, limit: null, failcnt: 0 }, cache: 0, raw: {} } }, 1), undefined) as Record<string, any>;
    assert.equal(unlimited.memory_stats.limit, 16 * 2 ** 30);
    const stopped = statsJson('abc', 'web', undefined, undefined) as Record<string, any>;
    assert.deepEqual([stopped.read, stopped.memory_stats, stopped.cpu_stats.cpu_usage.total_usage], ['0001-01-01T00:00:00Z', {}, 0]);
  });
});

describe('docker API: archive stat and prune times', () => {
  it('gives Go FileMode bits for directories, symlinks and permission bits', () => {
    assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
    assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
    assert.equal(goFileMode(0o100644), 0o644);
    assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
    assert.equal(goFileMode(0o020620), 2 ** 26 + 2 ** 21 + 0o620);
  });

  it('reads until= as Unix seconds, a duration ago or a date, and refuses the rest', () => {
    assert.equal(untilMs('1700000000'), 1_700_000_000_000);
    const ago = untilMs('2h');
    assert.ok(Math.abs(Date.now() - 7_200_000 - ago) < 1000);
    assert.equal(untilMs('2024-01-02T03:04:05Z'), Date.parse('2024-01-02T03:04:05Z'));
    assert.throws(() => untilMs('yesterday'), /invalid filter 'until=yesterday'/);
  });
});
