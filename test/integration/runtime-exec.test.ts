/** exec: another process in a running container. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { harness, sh, skipUnlessRoot } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';

const cli = join(import.meta.dirname, '../../bin/berth-runtime');

describe('berth-runtime exec', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  async function running(): Promise<{ id: string; pid: number }> {
    const b = h.bundle((c) => {
      c.hostname = 'exec-box';
      c.process!.args = ['/bin/sh', '-c', 'echo from-init > /tmp/mark; sleep 60'];
      c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
    });
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    return { id, pid };
  }

  function exec(id: string, ...args: string[]) {
    return spawnSync(cli, ['--root', h.rootDir, 'exec', ...args.slice(0, -1), id, ...JSON.parse(args.at(-1)!)], { encoding: 'utf8' });
  }

  it('runs a process in the container\'s namespaces, filesystem and cgroup, passing its status through', async () => {
    const { id, pid } = await running();
    const r = exec(id, JSON.stringify(['/bin/sh', '-c', 'hostname; cat /tmp/mark; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; cat /proc/self/cgroup | grep -c berth; exit 5']));
    assert.equal(r.status, 5, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'exec-box');
    assert.equal(lines[1], 'from-init', 'sees the container\'s tmpfs');
    assert.equal(lines[2], readlinkSync(`/proc/${pid}/ns/pid`));
    assert.equal(lines[3], readlinkSync(`/proc/${pid}/ns/mnt`));
    assert.ok(Number(lines[4]) >= 1, 'in the container\'s cgroup');
    await h.runtime.delete(id, { force: true });
  });

  it('sees the init as PID 1 and applies --user, --env, --cwd', async () => {
    const { id } = await running();
    const r = exec(id, '--user', '1000:1001', '--env', 'WHO=exec', '--cwd', '/etc', JSON.stringify(['/bin/sh', '-c', 'id -u; id -g; echo $WHO; pwd; cat /proc/1/cmdline | tr "\\0" " "']));
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), ['1000', '1001', 'exec', '/etc']);
    assert.match(lines[4]!, /sleep 60/, 'PID 1 is the container\'s init');
    await h.runtime.delete(id, { force: true });
  });

  it('takes flags after the command as the command\'s own', async () => {
    const { id } = await running();
    const r = spawnSync(cli, ['--root', h.rootDir, 'exec', id, '/bin/sh', '-c', 'echo -n dash-c-ok'], { encoding: 'utf8' });
    assert.equal(r.stdout, 'dash-c-ok', r.stderr);
    await h.runtime.delete(id, { force: true });
  });

  it('exits 255 for a missing program (an error of the exec itself, as runc) and refuses a stopped container', async () => {
    const { id } = await running();
    let r = exec(id, JSON.stringify(['no-such-program']));
    assert.equal(r.status, 255);
    assert.match(r.stderr, /no-such-program/);
    await h.runtime.kill(id, 'KILL');
    await new Promise((res) => setTimeout(res, 200));
    r = exec(id, JSON.stringify(['/bin/true']));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot exec in container .*: it is stopped/);
    await h.runtime.delete(id, { force: true });
  });

  it('explains the exec plan: setns into each namespace, then the program', async () => {
    const { id } = await running();
    const r = exec(id, '--explain', JSON.stringify(['/bin/true']));
    assert.equal(r.status, 0, r.stderr);
    for (const ns of ['pid', 'mount', 'network', 'ipc', 'uts']) assert.match(r.stdout, new RegExp(`join the ${ns} namespace`));
    assert.match(r.stdout, /execve\("\/bin\/true"\)/);
    await h.runtime.delete(id, { force: true });
  });

  it('pins an exec\'d process to execCPUAffinity (final; else initial, inherited) from --process', async () => {
    const { id } = await running();
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/berth-test-affinity-');
    try {
      const run = (affinity: Record<string, string>) => {
        const file = join(dir, 'process.json');
        writeFileSync(file, JSON.stringify({ args: ['/bin/sh', '-c', 'grep Cpus_allowed_list /proc/self/status'], cwd: '/', user: { uid: 0, gid: 0 }, execCPUAffinity: affinity }));
        return spawnSync(cli, ['--root', h.rootDir, 'exec', '--process', file, id], { encoding: 'utf8' });
      };
      // the CPUs this machine lets us use (the cg2vm guest has one)
      const { parseCpuList } = await import('../../src/oci/index.ts');
      const allowed = parseCpuList(/Cpus_allowed_list:\s+(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]!)!;
      const [first, second = allowed[0]] = allowed as [number, number | undefined];
      let r = run({ initial: String(first), final: String(second) });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Cpus_allowed_list:\\s+${second}$`, 'm'), 'final, once in the cgroups');
      r = run({ initial: String(first) });
      assert.equal(r.status, 0, r.stderr);
      // initial holds until the transition to the container's cgroup; a cgroup v2 cpuset then
      // sets the process's CPUs to its own (the kernel's cpuset_attach), as the spec allows
      const v2Cpuset = existsSync('/sys/fs/cgroup/cgroup.controllers') && readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8').includes('cpuset');
      const inherited = v2Cpuset ? `(${first}|${/Cpus_allowed_list:\s+(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]})` : String(first);
      assert.match(r.stdout, new RegExp(`Cpus_allowed_list:\\s+${inherited}$`, 'm'), 'initial, inherited');
      r = run({ final: '0-x' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /execCPUAffinity\.final: expected a CPU list like "0-3,7", got "0-x"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await h.runtime.delete(id, { force: true });
    }
  });

  it('runs a detached process that keeps running after exec returns', async () => {
    const { id } = await running();
    // the detached process holds whatever stdio it got: give it none, or spawnSync waits for it
    const r = spawnSync(cli, ['--root', h.rootDir, 'exec', '--detach', id, '/bin/sh', '-c', 'sleep 30'], { stdio: 'ignore' });
    assert.equal(r.status, 0);
    const pids = await h.runtime.ps(id);
    assert.equal(pids.length, 2, `processes: ${pids}`);
    // `ps` prints ps(1)'s own lines for exactly those processes, as runc does (where ps(1)
    // itself works: in the cg2vm guest it cannot read the boot time)
    if (spawnSync('ps', ['-ef']).status === 0) {
      const ps = spawnSync(cli, ['--root', h.rootDir, 'ps', id], { encoding: 'utf8' });
      assert.equal(ps.status, 0, ps.stderr);
      const lines = ps.stdout.trim().split('\n');
      assert.match(lines[0]!, /PID/);
      assert.equal(lines.length, 3, ps.stdout);
      assert.ok(lines.some((l) => l.includes('sleep 30')));
    }
    const state = JSON.parse(spawnSync(cli, ['--root', h.rootDir, 'state', id], { encoding: 'utf8' }).stdout);
    assert.equal(state.status, 'running');
    assert.match(state.rootfs, /rootfs$/);
    assert.ok(!Number.isNaN(Date.parse(state.created)));
    await h.runtime.delete(id, { force: true });
    void sh;
  });
});
