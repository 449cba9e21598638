/** Namespaces joined by path, the time namespace, chroot without pivot_root, and the sealed helper. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readlinkSync, readFileSync } from 'node:fs';
import { harness, sh, skipUnlessRoot } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';

describe('berth-runtime namespaces', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  it('joins the network namespace of another container by path', async () => {
    const first = h.bundle(sh('sleep 60'));
    const firstId = uniqueId();
    const { pid } = await h.runtime.create(firstId, { bundleDir: first.bundleDir });
    const netns = readlinkSync(`/proc/${pid}/ns/net`);
    const r = await h.run((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.map((ns) => (ns.type === 'network' ? { type: 'network', path: `/proc/${pid}/ns/net` } : ns));
      c.process!.args = ['/bin/readlink', '/proc/self/ns/net'];
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.trim(), netns);
    assert.notEqual(netns, readlinkSync('/proc/self/ns/net'), 'the first container has a network namespace of its own');
    await h.runtime.delete(firstId, { force: true });
  });

  it('starts the init in every cgroup of the container, and a cgroup namespace is rooted there', async () => {
    const b = h.bundle((c) => {
      c.linux!.namespaces!.push({ type: 'cgroup' });
      c.process!.args = ['/bin/sh', '-c', 'cat /proc/self/cgroup; sleep 60'];
    });
    const id = uniqueId();
    const { openSync, closeSync, readFileSync: read, mkdtempSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/berth-test-out-');
    const out = openSync(`${dir}/out`, 'w');
    try {
      const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir, stdio: { stdout: out } });
      // seen from the host: the init is in the container's cgroup in each hierarchy (v1 and v2),
      // from its first instruction on
      const hostView = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
      const ownLines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').length;
      assert.equal(hostView.length, ownLines);
      for (const line of hostView) assert.ok(line.endsWith(`/berth/${id}`), `${line} (of ${hostView.join(' | ')})`);
      await h.runtime.start(id);
      // seen from inside: each of those cgroups is the root of its namespace
      let text = '';
      for (let i = 0; i < 200 && text.split('\n').filter(Boolean).length < ownLines; i++) {
        await new Promise((r) => setTimeout(r, 10));
        text = read(`${dir}/out`, 'utf8');
      }
      const inside = text.trim().split('\n');
      assert.equal(inside.length, ownLines, text);
      for (const line of inside) assert.ok(line.endsWith(':/'), `${line} (of ${inside.join(' | ')})`);
      // a process exec'd into it lands in the same cgroups
      const devNull = openSync('/dev/null', 'r+');
      const execOut = openSync(`${dir}/exec`, 'w');
      const res = await h.runtime.exec(id, { process: { args: ['/bin/cat', '/proc/self/cgroup'], cwd: '/', env: [] }, stdio: { stdin: devNull, stdout: execOut, stderr: devNull } });
      closeSync(devNull);
      closeSync(execOut);
      assert.equal(res.exitCode, 0);
      for (const line of read(`${dir}/exec`, 'utf8').trim().split('\n')) assert.ok(line.endsWith(':/'), line);
    } finally {
      closeSync(out);
      await h.runtime.delete(id, { force: true }).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shifts the boot-time clock in a time namespace', { skip: existsSync('/proc/self/ns/time') ? false : 'this kernel has no time namespaces' }, async () => {
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const r = await h.run((c) => {
      c.linux!.namespaces!.push({ type: 'time' });
      c.linux!.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 } };
      c.process!.args = ['/bin/cat', '/proc/uptime'];
    });
    assert.equal(r.exitCode, 0, r.stderr);
    const uptime = Number(r.stdout.split(' ')[0]);
    assert.ok(uptime > hostUptime + 86400 * 364, `uptime in the container ${uptime}, host ${hostUptime}`);
  });

  it('enters the root with MS_MOVE and chroot when asked for no pivot_root', async () => {
    const b = h.bundle(sh('ls /; echo pid=$$'));
    const plan = await h.runtime.explain(uniqueId(), { bundleDir: b.bundleDir, noPivot: true });
    assert.match(plan, /chroot\("\."\)/);
    assert.doesNotMatch(plan, /pivot_root\(/);
    const id = uniqueId();
    const { openSync, closeSync, readFileSync: read, mkdtempSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/berth-test-out-');
    const out = openSync(`${dir}/out`, 'w');
    try {
      const result = await h.runtime.run(id, { bundleDir: b.bundleDir, noPivot: true, stdio: { stdout: out } });
      assert.equal(result.exitCode, 0);
      const text = read(`${dir}/out`, 'utf8');
      assert.match(text, /pid=1/);
      assert.match(text, /bin/);
    } finally {
      closeSync(out);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs berth-init from a sealed memfd, not from the file on the host', async () => {
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    // the created container's init is still berth-init, waiting on the exec fifo
    const exe = readlinkSync(`/proc/${pid}/exe`);
    assert.match(exe, /^\/memfd:berth-init/);
    await h.runtime.delete(id, { force: true });
  });
});
