import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { V1Driver } from './v1.ts';
import { BerthError } from '../common/index.ts';

const MiB = 1024 * 1024;
const HIERARCHIES = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd'];
const FILES: Record<string, string[]> = {
  cpu: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.cfs_burst_us', 'cpu.stat'],
  cpuset: ['cpuset.cpus', 'cpuset.mems'],
  memory: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.swappiness', 'memory.oom_control'],
  devices: ['devices.allow', 'devices.deny'],
  freezer: ['freezer.state'],
  pids: ['pids.max'],
};

interface Fake {
  root: string;
  mounts: Map<string, string>;
}

/** A temp dir shaped like this host's v1 layout (separate cpu and cpuacct mounts). */
async function fakeV1(t: { after: (fn: () => Promise<void>) => void }): Promise<Fake> {
  const root = await mkdtemp(join(tmpdir(), 'berth-v1-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const mounts = new Map<string, string>();
  for (const name of HIERARCHIES) {
    await mkdir(join(root, name));
    mounts.set(name === 'systemd' ? 'name=systemd' : name, join(root, name));
  }
  return { root, mounts };
}

/** Pre-create a cgroup with empty control files (a temp dir does not grow them by itself). */
async function fakeCgroup(fake: Fake, rel: string): Promise<void> {
  await writeFile(join(fake.root, 'cpuset/cpuset.cpus'), '0-3\n');
  await writeFile(join(fake.root, 'cpuset/cpuset.mems'), '0\n');
  const parts = rel.split('/');
  for (const name of HIERARCHIES) {
    for (let i = 1; i <= parts.length; i++) {
      const dir = join(fake.root, name, ...parts.slice(0, i));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'cgroup.procs'), '');
      for (const file of FILES[name] ?? []) await writeFile(join(dir, file), '');
    }
  }
}

const read = (fake: Fake, hierarchy: string, rel: string, file: string) => readFile(join(fake.root, hierarchy, rel, file), 'utf8');

describe('V1Driver', () => {
  it('writes each resource into its own hierarchy when creating a cgroup', async (t) => {
    const fake = await fakeV1(t);
    await fakeCgroup(fake, 'berth/c1');
    const driver = new V1Driver({ mounts: fake.mounts });
    const handle = await driver.create('/berth/c1', {
      memory: { limit: 64 * MiB, swap: 128 * MiB },
      pids: { limit: 20 },
      cpu: { quota: 50000, period: 100000, cpus: '0' },
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
    });
    assert.equal(await read(fake, 'memory', 'berth/c1', 'memory.limit_in_bytes'), String(64 * MiB));
    assert.equal(await read(fake, 'memory', 'berth/c1', 'memory.memsw.limit_in_bytes'), String(128 * MiB));
    assert.equal(await read(fake, 'pids', 'berth/c1', 'pids.max'), '20');
    assert.equal(await read(fake, 'cpu', 'berth/c1', 'cpu.cfs_quota_us'), '50000');
    assert.equal(await read(fake, 'cpu', 'berth/c1', 'cpu.cfs_period_us'), '100000');
    assert.equal(await read(fake, 'cpuset', 'berth/c1', 'cpuset.cpus'), '0');
    // The ancestor got the root's cpus and mems, so that the child could be joined at all.
    assert.equal(await read(fake, 'cpuset', 'berth', 'cpuset.cpus'), '0-3');
    assert.equal(await read(fake, 'cpuset', 'berth', 'cpuset.mems'), '0');
    assert.equal(await read(fake, 'cpuset', 'berth/c1', 'cpuset.mems'), '0');
    assert.equal(await read(fake, 'devices', 'berth/c1', 'devices.allow'), 'c 1:3 rwm');
    assert.equal(handle.path, '/berth/c1');
    assert.deepEqual(
      handle.procsFiles,
      HIERARCHIES.map((name) => join(fake.root, name, 'berth/c1', 'cgroup.procs')),
    );
  });

  it('fails with FAILED_PRECONDITION naming the controller and creates nothing when a controller is not mounted', async (t) => {
    const fake = await fakeV1(t);
    const driver = new V1Driver({ mounts: fake.mounts });
    await assert.rejects(driver.create('/berth/c1', { hugepageLimits: [{ pageSize: '2MB', limit: 2 * MiB }] }), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.match(err.message, /cgroup controller "hugetlb" is not available \(needed by linux\.resources\.hugepageLimits\)/);
      return true;
    });
    for (const name of HIERARCHIES) assert.equal(existsSync(join(fake.root, name, 'berth')), false, name);
  });

  it('refuses unified with INVALID_ARGUMENT and creates nothing', async (t) => {
    const fake = await fakeV1(t);
    const driver = new V1Driver({ mounts: fake.mounts });
    await assert.rejects(driver.create('/berth/c1', { unified: { 'memory.high': '1G' } }), (err: unknown) => {
      return err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message.includes('linux.resources.unified');
    });
    for (const name of HIERARCHIES) assert.equal(existsSync(join(fake.root, name, 'berth')), false, name);
  });

  it('removes the directories it created when a write fails, naming the file in the error', async (t) => {
    const fake = await fakeV1(t);
    const driver = new V1Driver({ mounts: fake.mounts });
    // Fresh temp dirs have no control files, so the pids.max write fails like a kernel without the file.
    await assert.rejects(driver.create('/berth/new', { pids: { limit: 20 } }), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.equal(err.message, `cannot write "20" to ${join(fake.root, 'pids/berth/new/pids.max')}: no such file or directory`);
      return true;
    });
    for (const name of HIERARCHIES) assert.equal(existsSync(join(fake.root, name, 'berth')), false, name);
  });

  it('drives controllers bound to the cgroup2 mount there when the host is hybrid', async (t) => {
    const fake = await fakeV1(t);
    await fakeCgroup(fake, 'berth/c1');
    const unified = join(fake.root, 'unified');
    await mkdir(join(unified, 'berth/c1'), { recursive: true });
    for (const dir of [unified, join(unified, 'berth')]) {
      await writeFile(join(dir, 'cgroup.controllers'), 'hugetlb\n');
      await writeFile(join(dir, 'cgroup.subtree_control'), 'hugetlb\n');
    }
    await writeFile(join(unified, 'berth/c1/hugetlb.2MB.max'), '');
    const driver = new V1Driver({ mounts: fake.mounts, unified: { dir: unified, controllers: ['hugetlb'] } });
    const handle = await driver.create('/berth/c1', { hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }] });
    assert.equal(await readFile(join(unified, 'berth/c1/hugetlb.2MB.max'), 'utf8'), String(4 * MiB));
    assert.equal(handle.procsFiles.at(-1), join(unified, 'berth/c1/cgroup.procs'));
  });

  it('creates the cgroup once in a co-mounted cpu,cpuacct hierarchy and writes cpu files there', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'berth-v1-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const comount = join(root, 'cpu,cpuacct');
    await mkdir(join(comount, 'berth/c1'), { recursive: true });
    await writeFile(join(comount, 'berth/c1/cpu.shares'), '');
    const driver = new V1Driver({ mounts: new Map([['cpu', comount], ['cpuacct', comount]]) });
    const handle = await driver.create('/berth/c1', { cpu: { shares: 512 } });
    assert.deepEqual(handle.procsFiles, [join(comount, 'berth/c1/cgroup.procs')]);
    assert.equal(await readFile(join(comount, 'berth/c1/cpu.shares'), 'utf8'), '512');
  });

  it('fails with NOT_FOUND when updating a cgroup that does not exist', async (t) => {
    const fake = await fakeV1(t);
    const driver = new V1Driver({ mounts: fake.mounts });
    await assert.rejects(driver.update('/berth/gone', { pids: { limit: 5 } }), (err: unknown) => err instanceof BerthError && err.code === 'NOT_FOUND');
  });

  it('reads pids, the freezer state and the OOM-kill counter from the v1 files', async (t) => {
    const fake = await fakeV1(t);
    await fakeCgroup(fake, 'berth/c1');
    await writeFile(join(fake.root, 'pids/berth/c1/cgroup.procs'), '101\n102\n');
    await writeFile(join(fake.root, 'memory/berth/c1/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
    const driver = new V1Driver({ mounts: fake.mounts });
    assert.deepEqual(await driver.pids('/berth/c1'), [101, 102]);
    assert.equal(await driver.oomKillCount('/berth/c1'), 3);
    await driver.freeze('/berth/c1');
    assert.equal(await read(fake, 'freezer', 'berth/c1', 'freezer.state'), 'FROZEN');
    assert.equal(await driver.isFrozen('/berth/c1'), true);
    await driver.thaw('/berth/c1');
    assert.equal(await driver.isFrozen('/berth/c1'), false);
  });

  it('does nothing when destroying a cgroup that does not exist', async (t) => {
    const fake = await fakeV1(t);
    const driver = new V1Driver({ mounts: fake.mounts });
    await driver.destroy('/berth/never-created');
  });
});
