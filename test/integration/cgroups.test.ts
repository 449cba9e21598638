/**
 * Resource control of real containers, on whatever cgroup version the host runs (this
 * machine: v1; the cgroup v2 VM of shared/cg2vm: v2).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { harness, sh, skipUnlessRoot, waitFor, sleep } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';
import type { RuntimeConfig } from '../../src/oci/index.ts';

const MiB = 1024 * 1024;

function hasCpuset(): boolean {
  if (existsSync('/sys/fs/cgroup/cpuset/cpuset.cpus')) return true;
  try {
    return readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('cpuset');
  } catch {
    return false;
  }
}

describe('cgroups of real containers', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  async function started(mutate: (c: RuntimeConfig) => void): Promise<{ id: string; pid: number }> {
    const b = h.bundle(mutate);
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir, stdio: { stdout: 'ignore', stderr: 'ignore' } });
    await h.runtime.start(id);
    return { id, pid };
  }


  it('OOM-kills a process that allocates past a 64 MiB limit, and reports the kill as an event', async () => {
    const { id } = await started((c) => {
      c.linux!.resources = { ...c.linux!.resources, memory: { limit: 64 * MiB, swap: 64 * MiB } };
      // dd fills one 200 MiB buffer, in a child so that the container's init survives the kill
      c.process!.args = ['/bin/sh', '-c', 'dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; sleep 30'];
    });
    const events: string[] = [];
    const controller = new AbortController();
    const watching = (async () => {
      for await (const e of h.runtime.events(id, { intervalMs: 200, signal: controller.signal })) events.push(e.type);
    })();
    await waitFor(async () => (await h.runtime.oomKillCount(id)) > 0, 'an OOM kill', 30_000);
    await waitFor(() => events.includes('oom'), 'the oom event', 5_000);
    controller.abort();
    await watching;
    const stats = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    assert.ok(stats && stats.type === 'stats');
    assert.equal(stats.data.memory?.usage.limit, 64 * MiB);
    assert.ok((stats.data.memory?.usage.max ?? 0) >= 60 * MiB, 'peak usage reached the limit');
    await h.runtime.delete(id, { force: true });
  });

  it('holds a fork bomb to a pids limit of 20, and the container stays killable', async () => {
    const { id } = await started((c) => {
      c.linux!.resources = { ...c.linux!.resources, pids: { limit: 20 } };
      c.process!.args = ['/bin/sh', '-c', 'sh -c "while :; do sleep 60 & done"; sleep 60'];
    });
    // the inner shell forks until the kernel refuses, then gives up; the init stays
    await waitFor(async () => ((await h.runtime.events(id, { statsOnly: true }).next()).value?.data.pids?.current ?? 0) >= 19, 'pids.current to reach the limit', 20_000);
    await sleep(300);
    const stats = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    assert.ok(stats && stats.type === 'stats');
    assert.equal(stats.data.pids?.limit, 20);
    assert.ok((stats.data.pids?.current ?? 99) <= 20);
    await h.runtime.delete(id, { force: true });
    assert.equal(existsSync(join(h.rootDir, id)), false);
  });

  it('throttles a busy loop to half a CPU with a quota of 50000/100000', async () => {
    const { id } = await started((c) => {
      c.linux!.resources = { ...c.linux!.resources, cpu: { quota: 50_000, period: 100_000 } };
      c.process!.args = ['/bin/sh', '-c', 'while :; do :; done'];
    });
    const first = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    const t0 = process.hrtime.bigint();
    await sleep(1500);
    const second = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    const elapsedNs = Number(process.hrtime.bigint() - t0);
    assert.ok(first?.type === 'stats' && second?.type === 'stats');
    const used = second.data.cpu!.usage.total - first.data.cpu!.usage.total;
    // the cgroup's own counter: well under one CPU, generous bounds (shared, noisy machine)
    assert.ok(used / elapsedNs < 0.75, `used ${(used / elapsedNs).toFixed(2)} of a CPU`);
    assert.ok(used / elapsedNs > 0.1, `used only ${(used / elapsedNs).toFixed(2)} of a CPU`);
    // throttled whenever it ran past its half (on a one-CPU VM it may not get that far)
    assert.ok(second.data.cpu!.throttling.throttledPeriods > 0 || used / elapsedNs < 0.5, 'above half a CPU without throttling');
    await h.runtime.delete(id, { force: true });
  });

  it('restricts the CPUs the process may run on with cpuset', { skip: hasCpuset() ? false : 'no cpuset controller on this host (e.g. the UML cgroup v2 VM: use --backend qemu)' }, async () => {
    const r = await h.run((c) => {
      c.linux!.resources = { ...c.linux!.resources, cpu: { cpus: '0' } };
      c.process!.args = ['/bin/grep', 'Cpus_allowed_list', '/proc/self/status'];
    });
    assert.match(r.stdout, /Cpus_allowed_list:\s+0$/m);
  });

  it('pauses (no progress while frozen) and resumes a container', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-pause-'));
    chmodSync(dir, 0o777);
    after(() => rmSync(dir, { recursive: true, force: true }));
    const counter = join(dir, 'n');
    const { id } = await started((c) => {
      c.mounts!.push({ destination: '/out', type: 'bind', source: dir, options: ['rbind', 'rw'] });
      c.process!.args = ['/bin/sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /out/n; done'];
    });
    await waitFor(() => existsSync(counter) && readFileSync(counter, 'utf8').trim() !== '', 'the counter');
    await h.runtime.pause(id);
    assert.equal((await h.runtime.state(id)).status, 'paused');
    const frozenAt = readFileSync(counter, 'utf8');
    await sleep(300);
    assert.equal(readFileSync(counter, 'utf8'), frozenAt, 'the counter moved while paused');
    await h.runtime.resume(id);
    assert.equal((await h.runtime.state(id)).status, 'running');
    await waitFor(() => readFileSync(counter, 'utf8') !== frozenAt, 'progress after resume');
    await h.runtime.delete(id, { force: true });
  });

  it('updates the limits of a running container', async () => {
    const { id } = await started((c) => {
      c.linux!.resources = { ...c.linux!.resources, memory: { limit: 64 * MiB }, pids: { limit: 50 } };
      c.process!.args = ['/bin/sh', '-c', 'sleep 60'];
    });
    await h.runtime.update(id, { memory: { limit: 96 * MiB }, pids: { limit: 30 } });
    const stats = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    assert.ok(stats?.type === 'stats');
    assert.equal(stats.data.memory?.usage.limit, 96 * MiB);
    assert.equal(stats.data.pids?.limit, 30);
    await h.runtime.delete(id, { force: true });
    await assert.rejects(h.runtime.update(id, { pids: { limit: 10 } }), /does not exist/);
  });

  it('denies a device the device rules do not allow', async () => {
    const r = await h.run((c) => {
      // /dev/kmsg (c 1:11) is created in the container but not in the allow-list
      c.linux!.devices = [{ path: '/dev/kmsg', type: 'c', major: 1, minor: 11, fileMode: 0o644, uid: 0, gid: 0 }];
      c.process!.args = ['/bin/sh', '-c', 'head -c 1 /dev/kmsg 2>&1; echo status=$?; head -c 1 /dev/urandom | wc -c'];
    });
    assert.match(r.stdout, /Operation not permitted/);
    assert.match(r.stdout, /status=1/);
    assert.match(r.stdout, /^1$/m, 'an allowed device still works');
  });

  it('reports stats that move', async () => {
    const { id } = await started(sh('while :; do :; done'));
    const a = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    await sleep(300);
    const b = (await h.runtime.events(id, { statsOnly: true }).next()).value;
    assert.ok(a?.type === 'stats' && b?.type === 'stats');
    assert.ok(b.data.cpu!.usage.total > a.data.cpu!.usage.total, 'cpu usage grows');
    assert.ok((b.data.memory?.usage.usage ?? 0) > 0, 'memory usage is reported');
    assert.ok((b.data.pids?.current ?? 0) >= 1, 'pids are counted');
    await h.runtime.delete(id, { force: true });
  });
});
