/**
 * The limits view through berth-runtime (io.berth.limits-view=true): a container's /proc files
 * and sysinfo(2) show its cgroup's limits, a seccomp profile that refuses sysinfo keeps refusing
 * it, a bad annotation is refused with nothing made, and no mount or process of the view is
 * left once the container is deleted.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { harness, skipUnlessRoot } from './helpers.ts';
import type { RuntimeConfig } from '../../src/oci/index.ts';
import { uniqueId } from '../fixtures/bundle.ts';
import { isView } from '../fixtures/views.ts';
import { BerthError } from '../../src/common/index.ts';

const MiB = 1024 * 1024;
const hostMemTotalKb = () => Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
const viewMountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - fuse.berth-view ') && l.includes(dir));

describe('berth-runtime: the limits view (io.berth.limits-view)', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());
  const limited = (script: string, seccomp?: NonNullable<RuntimeConfig['linux']>['seccomp']) => (c: RuntimeConfig) => {
    c.process!.args = ['/bin/sh', '-c', script];
    c.annotations = { ...c.annotations, 'io.berth.limits-view': 'true' };
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 256 * MiB }, cpu: { quota: 100000, period: 100000 } };
    if (seccomp) c.linux!.seccomp = seccomp;
  };

  it("shows the container's memory and CPU limits in /proc and sysinfo(2); nothing of the view is left", async () => {
    const r = await h.run(
      limited('head -1 /proc/meminfo; cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo; grep -c "^cpu[0-9]" /proc/stat; free | sed -n 2p', {
        defaultAction: 'SCMP_ACT_ALLOW',
      }),
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const [mem, online, processors, statCpus, free] = r.stdout.split('\n');
    assert.equal(mem, 'MemTotal:         262144 kB');
    assert.equal(online, '0');
    assert.equal(processors, '1');
    assert.equal(statCpus, '1');
    // busybox free asks sysinfo(2) for the total: answered by the view through seccomp notify
    assert.equal(free!.trim().split(/\s+/)[1], '262144');
    assert.deepEqual(viewMountsUnder(h.rootDir), [], 'the view is unmounted when its container ends');
  });

  it('records the view\'s keeper in the state; delete ends it and unmounts it', async () => {
    const b = h.bundle(limited('sleep 300'));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    const state = JSON.parse(readFileSync(`${h.rootDir}/${id}/state.json`, 'utf8')) as { view: { pid: number; dir: string } };
    assert.ok(isView(state.view.pid), `keeper ${state.view.pid} runs`);
    assert.equal(viewMountsUnder(h.rootDir).length, 1);
    assert.equal(readFileSync(`${state.view.dir}/meminfo`, 'utf8').split('\n')[0], 'MemTotal:         262144 kB');
    await h.runtime.delete(id, { force: true });
    for (let i = 0; i < 50 && isView(state.view.pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isView(state.view.pid), false, 'the keeper ended');
    assert.deepEqual(viewMountsUnder(h.rootDir), []);
    assert.equal(existsSync(`${h.rootDir}/${id}`), false);
  });

  it("a profile that refuses sysinfo(2) keeps refusing it; without a profile the files are still the container's", async () => {
    const refused = await h.run(
      limited('free | sed -n 2p; head -1 /proc/meminfo', {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['sysinfo'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      }),
    );
    // busybox's free ignores sysinfo's error and prints what its buffer held: anything but the
    // view's answer
    assert.notEqual(refused.stdout.split('\n')[0]!.trim().split(/\s+/)[1], '262144');
    assert.match(refused.stdout, /^MemTotal:\s+262144 kB$/m);
    const plain = await h.run(limited('head -1 /proc/meminfo; free | sed -n 2p'));
    assert.equal(plain.exitCode, 0, plain.stderr);
    assert.match(plain.stdout, /^MemTotal:\s+262144 kB$/m);
    // no filter to add sysinfo to: the kernel answers it (the host's figure)
    assert.equal(Number(plain.stdout.split('\n')[1]!.trim().split(/\s+/)[1]), hostMemTotalKb());
  });

  it('is off without the annotation, and with "false"', async () => {
    for (const value of [undefined, 'false']) {
      const r = await h.run((c) => {
        c.process!.args = ['/bin/sh', '-c', 'head -1 /proc/meminfo'];
        if (value) c.annotations = { 'io.berth.limits-view': value };
        c.linux!.resources = { ...c.linux!.resources, memory: { limit: 256 * MiB } };
      });
      assert.equal(Number(/(\d+) kB/.exec(r.stdout)![1]), hostMemTotalKb());
    }
  });

  it('refuses an annotation that is neither true nor false, and makes nothing', async () => {
    const b = h.bundle((c) => (c.annotations = { 'io.berth.limits-view': 'yes' }));
    const id = uniqueId();
    await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, /io\.berth\.limits-view must be "true" or "false", not "yes"/);
      return true;
    });
    assert.equal(existsSync(`${h.rootDir}/${id}`), false, 'no state is left');
    assert.deepEqual(viewMountsUnder(h.rootDir), []);
  });
});
