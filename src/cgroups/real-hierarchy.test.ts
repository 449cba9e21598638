/**
 * The drivers against the kernel's own cgroup files: v1 (or hybrid) on this host, v2 inside
 * shared/cg2vm. Needs root; every cgroup is named berth-test-<random> and removed in t.after().
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCgroupDriver, detectCgroupLayout } from './index.ts';
import type { CgroupDriver, CgroupLayout } from './index.ts';
import { BerthError } from '../common/index.ts';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const layout: CgroupLayout | undefined = isRoot ? await detectCgroupLayout().catch(() => undefined) : undefined;
const skip = !isRoot ? 'needs root (real cgroups)' : layout === undefined ? 'no cgroup hierarchy at /sys/fs/cgroup' : false;
const RUN = `berth-test-${randomBytes(4).toString('hex')}`;
let serial = 0;

function uniquePath(): string {
  serial += 1;
  return `/${RUN}-${serial}`;
}

/** The directory of `path` for a controller: the v1 hierarchy, or the v2 cgroup. */
function dirFor(controller: string, path: string): string {
  if (!layout) throw new Error('no layout');
  if (layout.kind === 'v2') return join(layout.v2Dir as string, path);
  const mount = layout.v1Mounts.get(controller);
  if (mount === undefined) throw new Error(`${controller} is not mounted`);
  return join(mount, path);
}

const readTrim = async (file: string) => (await readFile(file, 'utf8')).trim();

function hasController(name: string): boolean {
  if (!layout) return false;
  return layout.kind === 'v2' ? layout.v2Controllers.includes(name) : layout.v1Mounts.has(name);
}

/** Start `sleep 30` that joins the cgroup itself before exec, as berth-init does. */
function startInCgroup(procsFiles: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }> } {
  const script = 'for f in "$@"; do echo 0 > "$f" || exit 1; done; exec sleep 30';
  const child = spawn('/bin/sh', ['-c', script, 'sh', ...procsFiles], { stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exited };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Kill only our own child, if it is still running. */
function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** A child's exit, or a failure after `ms` (so a process destroy() missed fails the test instead of hanging it). */
function exitWithin(exited: Promise<{ code: number | null; signal: string | null }>, ms = 10000) {
  return Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error(`child still running ${ms} ms after destroy()`)), ms).unref())]);
}

describe(`cgroup driver on the real ${layout?.kind ?? ''} hierarchy`, { skip, timeout: 120000 }, () => {
  const driver = (): CgroupDriver => createCgroupDriver(layout as CgroupLayout);

  after(() => {
    // Nothing of this run may be left in any hierarchy.
    const roots = layout?.kind === 'v2' ? [layout.v2Dir as string] : [...new Set(layout?.v1Mounts.values() ?? [])].concat(layout?.v2Dir ?? []);
    for (const root of roots) {
      const left = readdirSync(root).filter((name) => name.startsWith(RUN));
      assert.deepEqual(left, [], `left behind in ${root}`);
    }
  });

  it('puts the limits in force, holds a process, freezes it, reports stats and removes everything when destroyed', async (t) => {
    const cgroups = driver();
    const path = uniquePath();
    t.after(() => cgroups.destroy(path));
    const isV2 = cgroups.version === 'v2';
    const resources = {
      memory: { limit: 64 * MiB },
      pids: { limit: 20 },
      cpu: { quota: 50000, period: 100000, ...(hasController('cpuset') ? { cpus: '0' } : {}) },
    };
    const handle = await cgroups.create(path, resources);

    if (isV2) {
      assert.equal(await readTrim(join(dirFor('memory', path), 'memory.max')), String(64 * MiB));
      assert.equal(await readTrim(join(dirFor('cpu', path), 'cpu.max')), '50000 100000');
    } else {
      assert.equal(await readTrim(join(dirFor('memory', path), 'memory.limit_in_bytes')), String(64 * MiB));
      assert.equal(await readTrim(join(dirFor('cpu', path), 'cpu.cfs_quota_us')), '50000');
      assert.equal(await readTrim(join(dirFor('cpu', path), 'cpu.cfs_period_us')), '100000');
    }
    assert.equal(await readTrim(join(dirFor('pids', path), 'pids.max')), '20');
    if (hasController('cpuset')) assert.equal(await readTrim(join(dirFor('cpuset', path), 'cpuset.cpus')), '0');

    const { child, exited } = startInCgroup(handle.procsFiles);
    t.after(() => stopChild(child));
    const pid = child.pid as number;
    await waitFor('the child to exec sleep inside the cgroup', async () => {
      const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
      return comm.trim() === 'sleep' && (await cgroups.pids(path)).includes(pid);
    });
    assert.deepEqual(await cgroups.pids(path), [pid]);
    for (const file of handle.procsFiles) {
      assert.deepEqual((await readTrim(file)).split('\n').map(Number), [pid], file);
    }

    await cgroups.freeze(path);
    assert.equal(await cgroups.isFrozen(path), true);
    if (isV2) assert.match(await readFile(join(dirFor('freezer', path), 'cgroup.events'), 'utf8'), /^frozen 1$/m);
    else assert.equal(await readTrim(join(dirFor('freezer', path), 'freezer.state')), 'FROZEN');
    // The v1 freezer shows frozen tasks in uninterruptible sleep; the v2 one keeps them in S.
    if (!isV2) assert.match(await readFile(`/proc/${pid}/status`, 'utf8'), /^State:\s+D/m);
    await cgroups.thaw(path);
    assert.equal(await cgroups.isFrozen(path), false);
    // Thawed, sleep runs again (R for an instant) and goes back to sleeping.
    await waitFor('the thawed child to sleep again', async () => /^State:\s+S/m.test(await readFile(`/proc/${pid}/status`, 'utf8')), 2000);

    const stats = await cgroups.stats(path);
    assert.ok((stats.memory?.usage.usage ?? 0) > 0, `memory usage ${stats.memory?.usage.usage}`);
    assert.equal(stats.memory?.usage.limit, 64 * MiB);
    assert.deepEqual(stats.pids, { current: 1, limit: 20 });
    assert.ok(stats.cpu !== undefined);
    assert.equal(await cgroups.oomKillCount(path), 0);

    await cgroups.destroy(path);
    assert.deepEqual(await exitWithin(exited), { code: null, signal: 'SIGKILL' });
    for (const dir of handle.dirs) assert.equal(existsSync(dir), false, dir);
    assert.equal(await cgroups.exists(path), false);
    await cgroups.destroy(path); // idempotent
  });

  it('kills processes of child cgroups and removes the whole subtree when destroying the parent', async (t) => {
    const cgroups = driver();
    const base = uniquePath();
    t.after(() => cgroups.destroy(base));
    await cgroups.create(base);
    const inner = await cgroups.create(`${base}/inner`, { pids: { limit: 10 } });
    if (hasController('cpuset') && cgroups.version === 'v1') {
      // Both new levels got usable cpus/mems from their parents, or joining would fail with ENOSPC.
      const rootCpus = await readTrim(join(dirFor('cpuset', '/'), 'cpuset.cpus'));
      assert.equal(await readTrim(join(dirFor('cpuset', base), 'cpuset.cpus')), rootCpus);
      assert.equal(await readTrim(join(dirFor('cpuset', `${base}/inner`), 'cpuset.cpus')), rootCpus);
    }
    const { child, exited } = startInCgroup(inner.procsFiles);
    t.after(() => stopChild(child));
    await waitFor('the child to join the inner cgroup', async () => (await cgroups.pids(base, true)).includes(child.pid as number));
    assert.deepEqual(await cgroups.pids(base), []);
    assert.deepEqual(await cgroups.pids(base, true), [child.pid]);
    await cgroups.destroy(base);
    assert.deepEqual(await exitWithin(exited), { code: null, signal: 'SIGKILL' });
    for (const dir of inner.dirs) {
      assert.equal(existsSync(dir), false, dir);
      assert.equal(existsSync(join(dir, '..')), false, `${dir}/..`);
    }
  });

  it('raises and lowers memory and memory+swap on a live cgroup in the order the kernel accepts', async (t) => {
    const cgroups = driver();
    const path = uniquePath();
    t.after(() => cgroups.destroy(path));
    const swapFile = cgroups.version === 'v2' ? 'memory.swap.max' : 'memory.memsw.limit_in_bytes';
    if (!existsSync(join(dirFor('memory', '/'), cgroups.version === 'v2' ? 'memory.stat' : swapFile))) {
      t.skip('the kernel does not account swap');
      return;
    }
    await cgroups.create(path, { memory: { limit: 64 * MiB, swap: 128 * MiB } });
    if (!existsSync(join(dirFor('memory', path), swapFile))) {
      t.skip('the kernel does not account swap');
      return;
    }
    await cgroups.update(path, { memory: { limit: 256 * MiB, swap: 512 * MiB } });
    await cgroups.update(path, { memory: { limit: 32 * MiB, swap: 48 * MiB } });
    const limitFile = cgroups.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes';
    assert.equal(await readTrim(join(dirFor('memory', path), limitFile)), String(32 * MiB));
    assert.equal(await readTrim(join(dirFor('memory', path), swapFile)), String(cgroups.version === 'v2' ? 16 * MiB : 48 * MiB));
  });

  it('changes cpu quota and burst together in either direction, retrying what the kernel refuses first', async (t) => {
    const cgroups = driver();
    const path = uniquePath();
    t.after(() => cgroups.destroy(path));
    const isV2 = cgroups.version === 'v2';
    const burstFile = join(dirFor('cpu', path), isV2 ? 'cpu.max.burst' : 'cpu.cfs_burst_us');
    await cgroups.create(path, { cpu: { quota: 50000, period: 100000 } });
    if (!existsSync(burstFile)) {
      t.skip('the kernel has no cpu burst');
      return;
    }
    // Up: the burst (100000) is over the quota in force (50000) until the new quota is in.
    await cgroups.update(path, { cpu: { quota: 200000, period: 100000, burst: 100000 } });
    assert.equal(await readTrim(burstFile), '100000');
    // Down: the new quota (20000) is under the burst in force (100000) until the new burst is in.
    await cgroups.update(path, { cpu: { quota: 20000, period: 100000, burst: 10000 } });
    assert.equal(await readTrim(burstFile), '10000');
    if (isV2) assert.equal(await readTrim(join(dirFor('cpu', path), 'cpu.max')), '20000 100000');
    else assert.equal(await readTrim(join(dirFor('cpu', path), 'cpu.cfs_quota_us')), '20000');
  });

  it('fails naming the file when the kernel refuses a value, and leaves no directory behind', async (t) => {
    const cgroups = driver();
    const path = uniquePath();
    t.after(() => cgroups.destroy(path));
    // A CPU number beyond the kernel's cpumask is ERANGE; a word where a size belongs is EINVAL.
    const [resources, file, value, why] = hasController('cpuset')
      ? [{ cpu: { cpus: '4095' } }, 'cpuset.cpus', '4095', 'numerical result out of range']
      : cgroups.version === 'v2'
        ? [{ unified: { 'memory.high': 'lots' } }, 'memory.high', 'lots', 'invalid argument']
        : [undefined, '', '', ''];
    if (resources === undefined) {
      t.skip('no value to make the kernel refuse here');
      return;
    }
    await assert.rejects(cgroups.create(path, resources), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.equal(err.message, `cannot write "${value}" to ${join(dirFor(file.split('.')[0] as string, path), file)}: ${why}`);
      return true;
    });
    for (const procs of cgroups.procsFilesOf(path)) assert.equal(existsSync(join(procs, '..')), false, procs);
  });

  it('applies hugepage limits through the hugetlb controller wherever this host binds it', async (t) => {
    const hugetlbIn = layout?.v1Mounts.has('hugetlb') ? 'v1' : layout?.v2Controllers.includes('hugetlb') ? 'v2' : undefined;
    if (hugetlbIn === undefined || !existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB')) {
      t.skip('no hugetlb controller or no 2 MiB huge pages');
      return;
    }
    const cgroups = driver();
    const path = uniquePath();
    t.after(() => cgroups.destroy(path));
    const root = hugetlbIn === 'v1' ? (layout?.v1Mounts.get('hugetlb') as string) : (layout?.v2Dir as string);
    if (hugetlbIn === 'v2' && layout?.kind === 'hybrid') {
      // Enabling hugetlb in the hybrid unified root is a host-wide change: undo it afterwards.
      const before = await readTrim(join(root, 'cgroup.subtree_control'));
      t.after(async () => {
        if (!before.split(/\s+/).includes('hugetlb')) await writeFile(join(root, 'cgroup.subtree_control'), '-hugetlb').catch(() => undefined);
      });
    }
    await cgroups.create(path, { hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }] });
    const file = hugetlbIn === 'v1' ? 'hugetlb.2MB.limit_in_bytes' : 'hugetlb.2MB.max';
    assert.equal(await readTrim(join(root, path, file)), String(4 * MiB));
  });
});
