/**
 * A container's cgroup is its own only when it made it: a cgroup that holds others (another
 * container, a host service) is never taken over, killed through, or removed. On whatever
 * cgroup version the host runs (this machine: v1; shared/cg2vm: v2).
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { harness, skipUnlessRoot, waitFor } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';
import { createCgroupDriver, detectCgroupLayout, type CgroupDriver } from '../../src/cgroups/index.ts';
import { isSameLiveProcess, readProcessInfo } from '../../src/runtime/process-info.ts';

describe('berth-runtime: a cgroup that holds others is never taken over', { skip: skipUnlessRoot }, () => {
  const h = harness();
  let driver: CgroupDriver;
  const servicePath = `/berth-test-service-${process.pid}`;
  let service: ChildProcess;

  before(async () => {
    driver = createCgroupDriver(await detectCgroupLayout('/sys/fs/cgroup'));
    // a "host service": a process of its own in a cgroup of its own
    await driver.create(servicePath, {});
    service = spawn('/bin/sleep', ['600'], { stdio: 'ignore' });
    await new Promise((r) => service.once('spawn', r));
    for (const file of driver.procsFilesOf(servicePath)) writeFileSync(file, String(service.pid));
  });

  after(async () => {
    service.kill('SIGKILL');
    await new Promise((r) => service.once('exit', r));
    await driver.destroy(servicePath);
    await h.cleanup();
  });

  it('refuses a container whose cgroupsPath is another running container\'s, and leaves that one alone', async () => {
    const a = h.bundle((c) => {
      c.process!.args = ['/bin/sleep', '60'];
      c.linux!.resources = { ...c.linux!.resources, pids: { limit: 50 } };
    });
    const first = uniqueId();
    const { pid } = await h.runtime.create(first, { bundleDir: a.bundleDir });
    await h.runtime.start(first);
    const cgroupPath = (await h.runtime.ctx.store.read(first)).cgroupPath;
    const b = h.bundle((c) => {
      c.process!.args = ['/bin/sleep', '60'];
      c.linux!.cgroupsPath = cgroupPath;
      c.linux!.resources = { ...c.linux!.resources, pids: { limit: 5 } };
    });
    const second = uniqueId();
    await assert.rejects(h.runtime.create(second, { bundleDir: b.bundleDir }), new RegExp(`cgroup ${cgroupPath} is the cgroup of container "${first}"`));
    assert.equal((await h.runtime.state(first)).status, 'running');
    assert.ok(isSameLiveProcess(pid, readProcessInfo(pid)!.startTime));
    assert.equal((await driver.stats(cgroupPath)).pids?.limit, 50, 'the first container\'s limits are unchanged');
    await assert.rejects(h.runtime.state(second), /does not exist/);
    await h.runtime.delete(first, { force: true });
  });

  it('runs in a host service\'s cgroup with a warning, and its kill --all and delete --force leave the service alive and the cgroup there', async () => {
    const b = h.bundle((c) => {
      c.process!.args = ['/bin/sleep', '60'];
      c.linux!.cgroupsPath = servicePath;
    });
    const id = uniqueId();
    const { warnings } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    assert.ok(warnings.some((w) => w.includes(`the container's cgroup is not empty: ${servicePath} already holds processes`)), warnings.join('\n'));
    await h.runtime.start(id);
    await h.runtime.kill(id, 'KILL', { all: true });
    await waitFor(async () => (await h.runtime.state(id)).status === 'stopped', 'the container to stop');
    assert.equal(service.exitCode, null, 'kill --all reached only the container');
    assert.ok((await driver.pids(servicePath)).includes(service.pid!));
    await h.runtime.delete(id, { force: true });
    // a second one, deleted while it runs
    const again = uniqueId();
    await h.runtime.create(again, { bundleDir: b.bundleDir });
    await h.runtime.start(again);
    await h.runtime.delete(again, { force: true });
    assert.equal(service.exitCode, null, 'delete --force reached only the container');
    assert.ok(await driver.exists(servicePath), 'the cgroup berth did not make is still there');
    assert.ok((await driver.pids(servicePath)).includes(service.pid!));
  });

  it('refuses a frozen cgroup at once instead of hanging, and creates nothing', async () => {
    const frozenPath = `/berth-test-frozen-${process.pid}`;
    await driver.create(frozenPath, {});
    try {
      await driver.freeze(frozenPath);
      const b = h.bundle((c) => {
        c.process!.args = ['/bin/true'];
        c.linux!.cgroupsPath = frozenPath;
      });
      const id = uniqueId();
      await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), /the container's cgroup unexpectedly frozen \(\/berth-test-frozen-\d+\)/);
      await assert.rejects(h.runtime.state(id), /does not exist/);
    } finally {
      await driver.thaw(frozenPath).catch(() => {});
      await driver.destroy(frozenPath);
    }
  });
});
