import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { V2Driver } from './v2.ts';
import { BerthError } from '../common/index.ts';

const MiB = 1024 * 1024;
const LEAF_FILES = ['memory.max', 'memory.swap.max', 'memory.low', 'memory.current', 'cpu.weight', 'cpu.max', 'pids.max', 'cgroup.freeze', 'cgroup.procs'];

async function fakeV2(t: { after: (fn: () => Promise<void>) => void }, controllers = 'cpu io memory pids'): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-v2-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'cgroup.controllers'), `${controllers}\n`);
  await writeFile(join(root, 'cgroup.subtree_control'), `${controllers}\n`);
  return root;
}

/** Pre-create berth/<name> with control files; berth/ delegates `controllers`. */
async function fakeLeaf(root: string, name: string, controllers = 'cpu io memory pids', enabled = controllers): Promise<string> {
  const dir = join(root, 'berth', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(root, 'berth/cgroup.controllers'), `${controllers}\n`);
  await writeFile(join(root, 'berth/cgroup.subtree_control'), enabled === '' ? '' : `${enabled}\n`);
  await writeFile(join(dir, 'cgroup.controllers'), `${enabled}\n`);
  await writeFile(join(dir, 'cgroup.events'), 'populated 0\nfrozen 0\n');
  for (const file of LEAF_FILES) await writeFile(join(dir, file), '');
  return dir;
}

describe('V2Driver', () => {
  it('never writes cgroup.kill of a cgroup that holds the caller or pid 1', async (t) => {
    const root = await fakeV2(t);
    const dir = await fakeLeaf(root, 'c1');
    await writeFile(join(dir, 'cgroup.kill'), '');
    const driver = new V2Driver({ root });
    for (const pid of [process.pid, 1]) {
      await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
      await assert.rejects(driver.destroy('/berth/c1'), new RegExp(`refusing to kill pid ${pid}: it is in cgroup`));
      assert.equal(await readFile(join(dir, 'cgroup.kill'), 'utf8'), '', 'cgroup.kill untouched');
    }
  });

  it('writes the v2 files with v2 values when creating a cgroup', async (t) => {
    const root = await fakeV2(t);
    const dir = await fakeLeaf(root, 'c1');
    const driver = new V2Driver({ root });
    const handle = await driver.create('/berth/c1', {
      memory: { limit: 64 * MiB, swap: 96 * MiB },
      cpu: { shares: 1024, quota: 50000, period: 100000 },
      pids: { limit: -1 },
    });
    const read = (file: string) => readFile(join(dir, file), 'utf8');
    assert.equal(await read('memory.max'), String(64 * MiB));
    assert.equal(await read('memory.swap.max'), String(32 * MiB));
    assert.equal(await read('cpu.weight'), '100');
    assert.equal(await read('cpu.max'), '50000 100000');
    assert.equal(await read('pids.max'), 'max');
    assert.deepEqual(handle.procsFiles, [join(dir, 'cgroup.procs')]);
  });

  it('enables a needed controller in the parent subtree_control when it is available but off', async (t) => {
    const root = await fakeV2(t, 'pids');
    await fakeLeaf(root, 'c1', 'pids', '');
    const driver = new V2Driver({ root });
    // The temp leaf's cgroup.controllers does not change by itself, so make it say what the kernel would.
    await writeFile(join(root, 'berth/c1/cgroup.controllers'), 'pids\n');
    await driver.create('/berth/c1', { pids: { limit: 7 } });
    assert.equal(await readFile(join(root, 'berth/cgroup.subtree_control'), 'utf8'), '+pids');
    assert.equal(await readFile(join(root, 'berth/c1/pids.max'), 'utf8'), '7');
  });

  it('fails with FAILED_PRECONDITION naming the controller and creates nothing when it is not available', async (t) => {
    const root = await fakeV2(t);
    const driver = new V2Driver({ root });
    await assert.rejects(driver.create('/berth/c1', { hugepageLimits: [{ pageSize: '2MB', limit: 2 * MiB }] }), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'FAILED_PRECONDITION');
      assert.match(err.message, /cgroup controller "hugetlb" is not available/);
      return true;
    });
    assert.equal(existsSync(join(root, 'berth')), false);
  });

  it('fails naming the controller when applying to a cgroup where it is not enabled', async (t) => {
    const root = await fakeV2(t);
    await fakeLeaf(root, 'c1', 'cpu io memory pids', 'cpu');
    const driver = new V2Driver({ root });
    await assert.rejects(driver.update('/berth/c1', { pids: { limit: 5 } }), (err: unknown) => {
      return err instanceof BerthError && err.code === 'FAILED_PRECONDITION' && /"pids" is not enabled .* linux\.resources\.pids\.limit/.test(err.message);
    });
  });

  it('thaws again and fails with UNAVAILABLE when the kernel never reports the cgroup frozen', async (t) => {
    const root = await fakeV2(t);
    const dir = await fakeLeaf(root, 'c1');
    const driver = new V2Driver({ root, freezeTimeoutMs: 50 });
    await assert.rejects(driver.freeze('/berth/c1'), (err: unknown) => err instanceof BerthError && err.code === 'UNAVAILABLE');
    assert.equal(await readFile(join(dir, 'cgroup.freeze'), 'utf8'), '0');
  });

  it('reports frozen from cgroup.events when the kernel says frozen 1', async (t) => {
    const root = await fakeV2(t);
    const dir = await fakeLeaf(root, 'c1');
    await writeFile(join(dir, 'cgroup.events'), 'populated 1\nfrozen 1\n');
    const driver = new V2Driver({ root });
    await driver.freeze('/berth/c1');
    assert.equal(await readFile(join(dir, 'cgroup.freeze'), 'utf8'), '1');
    assert.equal(await driver.isFrozen('/berth/c1'), true);
  });

  it('yields the OOM-kill count when memory.events oom_kill grows and ends on abort', { timeout: 20000 }, async (t) => {
    const root = await fakeV2(t);
    const dir = await fakeLeaf(root, 'c1');
    const events = (kills: number) => `low 0\nhigh 0\nmax 0\noom ${kills}\noom_kill ${kills}\n`;
    await writeFile(join(dir, 'memory.events'), events(0));
    const driver = new V2Driver({ root });
    const controller = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const count of driver.watchOom('/berth/c1', { signal: controller.signal, intervalMs: 5 })) {
        seen.push(count);
        controller.abort();
      }
    })();
    // The watcher's first read may come late on a slow machine: keep adding kills until it reports one.
    let kills = 0;
    while (seen.length === 0 && kills < 200) {
      kills += 1;
      await writeFile(join(dir, 'memory.events'), events(kills));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await watching;
    assert.equal(seen.length, 1);
    assert.ok((seen[0] ?? 0) >= 1 && (seen[0] ?? 0) <= kills, `reported ${seen[0]} after writing up to ${kills}`);
    assert.equal(await driver.oomKillCount('/berth/c1'), kills);
  });
});
