import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBlkioV1, readV1Stats, readV2Stats } from './stats.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-stats-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function files(dir: string, contents: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text);
}

describe('readV1Stats', () => {
  it('reads cpu from separate cpu and cpuacct hierarchies and memory, pids and blkio from theirs', async (t) => {
    const root = await tempDir(t);
    const dirs = { cpu: join(root, 'cpu'), cpuacct: join(root, 'cpuacct'), memory: join(root, 'memory'), pids: join(root, 'pids'), blkio: join(root, 'blkio') };
    await files(dirs.cpu, { 'cpu.stat': 'nr_periods 10\nnr_throttled 4\nthrottled_time 123456\n' });
    await files(dirs.cpuacct, { 'cpuacct.usage': '3000\n', 'cpuacct.usage_percpu': '1000 2000 \n', 'cpuacct.stat': 'user 2\nsystem 1\n' });
    await files(dirs.memory, {
      'memory.usage_in_bytes': '4096\n',
      'memory.max_usage_in_bytes': '8192\n',
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.failcnt': '0\n',
      'memory.memsw.usage_in_bytes': '4096\n',
      'memory.memsw.limit_in_bytes': '134217728\n',
      'memory.stat': 'cache 1024\nrss 3072\n',
    });
    await files(dirs.pids, { 'pids.current': '1\n', 'pids.max': '20\n' });
    await files(dirs.blkio, { 'blkio.throttle.io_service_bytes': '8:0 Read 512\n8:0 Write 1024\nTotal 1536\n' });
    const stats = await readV1Stats(dirs);
    assert.deepEqual(stats.cpu, {
      usage: { total: 3000, percpu: [1000, 2000], kernel: 10_000_000, user: 20_000_000 },
      throttling: { periods: 10, throttledPeriods: 4, throttledTime: 123456 },
    });
    assert.deepEqual(stats.memory?.usage, { usage: 4096, max: 8192, limit: null, failcnt: 0 });
    assert.equal(stats.memory?.swap.limit, 134217728);
    assert.equal(stats.memory?.cache, 1024);
    assert.equal(stats.memory?.raw.rss, 3072);
    assert.deepEqual(stats.pids, { current: 1, limit: 20 });
    assert.deepEqual(stats.blkio?.ioServiceBytesRecursive, [
      { major: 8, minor: 0, op: 'Read', value: 512 },
      { major: 8, minor: 0, op: 'Write', value: 1024 },
    ]);
  });

  it('leaves a section out when its hierarchy is not there', async (t) => {
    const root = await tempDir(t);
    await files(join(root, 'pids'), { 'pids.current': '2\n', 'pids.max': 'max\n' });
    const stats = await readV1Stats({ pids: join(root, 'pids'), memory: join(root, 'missing') });
    assert.deepEqual(stats, { pids: { current: 2, limit: null } });
  });
});

describe('readV2Stats', () => {
  it('converts microseconds to nanoseconds and reports swap as memory+swap like v1', async (t) => {
    const dir = await tempDir(t);
    await files(dir, {
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\nnr_throttled 1\nthrottled_usec 20\n',
      'memory.current': '1048576\n',
      'memory.peak': '2097152\n',
      'memory.max': '67108864\n',
      'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n',
      'memory.swap.current': '4096\n',
      'memory.swap.max': 'max\n',
      'memory.stat': 'anon 1000\nfile 2000\n',
      'pids.current': '1\n',
      'pids.max': 'max\n',
      'io.stat': '8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n',
    });
    const stats = await readV2Stats(dir);
    assert.deepEqual(stats.cpu, {
      usage: { total: 1_500_000, percpu: [], kernel: 500_000, user: 1_000_000 },
      throttling: { periods: 3, throttledPeriods: 1, throttledTime: 20_000 },
    });
    assert.deepEqual(stats.memory?.usage, { usage: 1048576, max: 2097152, limit: 67108864, failcnt: 5 });
    assert.deepEqual(stats.memory?.swap, { usage: 1048576 + 4096, max: 0, limit: null, failcnt: 0 });
    assert.equal(stats.memory?.cache, 2000);
    assert.deepEqual(stats.pids, { current: 1, limit: null });
    assert.deepEqual(stats.blkio?.ioServicedRecursive, [
      { major: 8, minor: 0, op: 'Read', value: 1 },
      { major: 8, minor: 0, op: 'Write', value: 2 },
    ]);
  });
});

describe('parseBlkioV1', () => {
  it('skips the Total line and blank lines when parsing io_service_bytes', () => {
    assert.deepEqual(parseBlkioV1('\n8:16 Sync 7\nTotal 7\n'), [{ major: 8, minor: 16, op: 'Sync', value: 7 }]);
  });
});
