/** create/start/state/kill/delete, hooks in order, and a pty through a console socket. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync, chmodSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { harness, sh, skipUnlessRoot, waitFor } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';

function hostDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `berth-test-${prefix}-`));
  chmodSync(dir, 0o777);
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('berth-runtime lifecycle', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  it('runs nothing of the process before start, then runs it', async () => {
    const dir = hostDir('marker');
    const b = h.bundle((c) => {
      c.mounts!.push({ destination: '/out', type: 'bind', source: dir, options: ['rbind', 'rw'] });
      c.process!.args = ['/bin/sh', '-c', 'echo started > /out/marker; sleep 30'];
    });
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    assert.ok(pid > 0);
    assert.equal((await h.runtime.state(id)).status, 'created');
    assert.equal((await h.runtime.state(id)).pid, pid);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(existsSync(join(dir, 'marker')), false, 'the process ran before start');
    await h.runtime.start(id);
    await waitFor(() => existsSync(join(dir, 'marker')), 'the marker after start');
    assert.equal((await h.runtime.state(id)).status, 'running');
    await assert.rejects(h.runtime.delete(id), /is running/);
    await h.runtime.delete(id, { force: true });
    await assert.rejects(h.runtime.state(id), /does not exist/);
  });

  it('delivers signals by name and number, and sees the container stop', async () => {
    const b = h.bundle(sh('trap "exit 0" USR1; while true; do sleep 0.05; done'));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    // PID 1 ignores a signal it has no handler for: until the trap is set, USR1 is lost,
    // so it is sent again until the container stops
    await waitFor(async () => {
      if ((await h.runtime.state(id)).status === 'stopped') return true;
      await h.runtime.kill(id, 'SIGUSR1').catch(() => {});
      return false;
    }, 'stop after USR1');
    assert.equal((await h.runtime.state(id)).pid, undefined);
    await h.runtime.delete(id);
    await assert.rejects(h.runtime.kill(id, '9'), /does not exist/);
  });

  it('reports a container killed by a signal as 128+signal', async () => {
    const b = h.bundle(sh('exec sleep 60'));
    const id = uniqueId();
    const running = h.runtime.run(id, { bundleDir: b.bundleDir });
    await waitFor(async () => (await h.runtime.state(id).catch(() => undefined))?.status === 'running', 'running');
    await h.runtime.kill(id, 'KILL');
    const result = await running;
    assert.equal(result.exitCode, 137);
  });

  it('deletes a created container and a running one with force, leaving no cgroup', async () => {
    const b = h.bundle(sh('sleep 60'));
    const created = uniqueId();
    await h.runtime.create(created, { bundleDir: b.bundleDir });
    await h.runtime.delete(created);
    const running = uniqueId();
    const { pid } = await h.runtime.create(running, { bundleDir: b.bundleDir });
    await h.runtime.start(running);
    await h.runtime.delete(running, { force: true });
    assert.equal(existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), false);
    for (const id of [created, running]) {
      assert.equal(existsSync(`/sys/fs/cgroup/memory/berth/${id}`) || existsSync(`/sys/fs/cgroup/berth/${id}`), false);
      assert.equal(existsSync(join(h.rootDir, id)), false);
    }
  });

  it('deletes with force a container whose init someone moved into a frozen cgroup of their own', async (t) => {
    const v1 = existsSync('/sys/fs/cgroup/freezer/tasks');
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    if (!v1 && !v2) return t.skip('no freezer');
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    // a stranger's cgroup: the init is moved there and frozen (crun's test_simple_delete)
    const foreign = v1 ? `/sys/fs/cgroup/freezer/berth-test-frozen-${id}` : `/sys/fs/cgroup/berth-test-frozen-${id}`;
    mkdirSync(foreign);
    try {
      writeFileSync(join(foreign, 'cgroup.procs'), String(pid));
      writeFileSync(join(foreign, v1 ? 'freezer.state' : 'cgroup.freeze'), v1 ? 'FROZEN' : '1');
      await waitFor(() => (v1 ? readFileSync(join(foreign, 'freezer.state'), 'utf8').trim() === 'FROZEN' : /frozen 1/.test(readFileSync(join(foreign, 'cgroup.events'), 'utf8'))), 'the freeze');
      await h.runtime.delete(id, { force: true });
      assert.equal(existsSync(`/proc/${pid}/stat`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), false, 'the init is still there');
      await assert.rejects(h.runtime.state(id), /does not exist/);
      // the stranger's cgroup is left as it was: still frozen, and empty now
      assert.equal(readFileSync(join(foreign, 'cgroup.procs'), 'utf8').trim(), '');
      if (v1) assert.equal(readFileSync(join(foreign, 'freezer.state'), 'utf8').trim(), 'FROZEN');
    } finally {
      writeFileSync(join(foreign, v1 ? 'freezer.state' : 'cgroup.freeze'), v1 ? 'THAWED' : '0');
      await waitFor(() => readFileSync(join(foreign, 'cgroup.procs'), 'utf8').trim() === '', 'the foreign cgroup to empty').catch(() => {});
      rmdirSync(foreign);
    }
  });

  it('refuses a second container with an id in use', async () => {
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ALREADY_EXISTS');
      assert.match(err.message, /already exists/);
      return true;
    });
    assert.equal((await h.runtime.state(id)).status, 'created', 'the first container is untouched');
    await h.runtime.delete(id, { force: true });
  });

  it('runs every hook in the order of the spec, with the state on stdin', async () => {
    const dir = hostDir('hooks');
    const log = join(dir, 'log');
    const hook = (name: string) => ({ path: '/bin/sh', args: ['sh', '-c', `read -r state; echo "${name} $state" >> ${log}`] });
    const b = h.bundle((c) => {
      c.mounts!.push({ destination: dir, type: 'bind', source: dir, options: ['rbind', 'rw'] });
      c.hooks = {
        prestart: [hook('prestart')],
        createRuntime: [hook('createRuntime')],
        createContainer: [hook('createContainer')],
        startContainer: [hook('startContainer')],
        poststart: [hook('poststart')],
        poststop: [hook('poststop')],
      };
      c.process!.args = ['/bin/sh', '-c', `echo process >> ${log}`];
    });
    const id = uniqueId();
    const out = openSync('/dev/null', 'w');
    after(() => closeSync(out));
    const result = await h.runtime.run(id, { bundleDir: b.bundleDir, stdio: { stdout: out } });
    assert.equal(result.exitCode, 0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const names = lines.map((l) => l.split(' ')[0]);
    // the process runs concurrently with poststart: only its place after startContainer is fixed
    assert.deepEqual(
      names.filter((n) => n !== 'process'),
      ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    );
    assert.ok(names.indexOf('process') > names.indexOf('startContainer'));
    const prestartState = JSON.parse(lines[0]!.slice('prestart '.length));
    assert.equal(prestartState.id, id);
    assert.equal(prestartState.status, 'creating');
    assert.ok(prestartState.pid > 0);
  });

  it('sends the pty master over the console socket and runs the process on the pty', async () => {
    const dir = hostDir('console');
    const socketPath = join(dir, 'console.sock');
    // a receiver like containerd's: takes the master fd (SCM_RIGHTS) and copies what it reads
    const receiver = spawn('python3', ['-c', `
import socket, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
msg, fds, flags, addr = socket.recv_fds(c, 1024, 1)
out = b""
while True:
    try:
        d = os.read(fds[0], 4096)
    except OSError:
        break
    if not d: break
    out += d
sys.stdout.write("name=" + msg.decode() + "\\n" + out.decode(errors="replace"))
`, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const receiverClosed = new Promise((r) => receiver.on('close', r));
    receiver.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    await waitFor(() => output.includes('listening'), 'the console receiver');
    const b = h.bundle((c) => {
      c.process!.terminal = true;
      c.process!.consoleSize = { height: 25, width: 100 };
      c.process!.args = ['/bin/sh', '-c', 'tty; stty size; echo on-the-pty'];
    });
    const id = uniqueId();
    const result = await h.runtime.run(id, { bundleDir: b.bundleDir, consoleSocket: socketPath });
    assert.equal(result.exitCode, 0);
    await receiverClosed;
    assert.match(output, /name=\/dev\/pts\/\d+/);
    assert.match(output, /\/dev\/pts\/0/);
    assert.match(output, /25 100/);
    assert.match(output, /on-the-pty/);
  });

  it('relays the pty itself in a foreground run without a console socket (CLI, under script(1))', () => {
    const b = h.bundle((c) => {
      c.process!.terminal = true;
      c.process!.args = ['/bin/sh', '-c', 'tty; stty size; echo relayed; exit 3'];
    });
    const cli = join(import.meta.dirname, '../../bin/berth-runtime');
    const r = spawnSync('script', ['-qec', `stty cols 91 rows 33; ${cli} --root ${h.rootDir} run --bundle ${b.bundleDir} ${uniqueId()}`, '/dev/null'], { encoding: 'utf8' });
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/0/);
    assert.match(r.stdout, /33 91/);
    assert.match(r.stdout, /relayed/);
  });

  it('lists containers with their status', async () => {
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    const entry = (await h.runtime.list()).find((e) => e.id === id);
    assert.equal(entry?.status, 'created');
    assert.equal(entry?.bundle, b.bundleDir);
    await h.runtime.delete(id, { force: true });
    assert.equal((await h.runtime.list()).some((e) => e.id === id), false);
  });

  it('writes the pid file', async () => {
    const dir = hostDir('pidfile');
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir, pidFile: join(dir, 'pid') });
    assert.equal(readFileSync(join(dir, 'pid'), 'utf8'), String(pid));
    await h.runtime.delete(id, { force: true });
  });

  it('keeps the exec fifo of a created container for start only', async () => {
    const b = h.bundle(sh('sleep 60'));
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir });
    await h.runtime.start(id);
    await assert.rejects(h.runtime.start(id), /running, not created/);
    await h.runtime.delete(id, { force: true });
    writeFileSync(join(tmpdir(), 'berth-test-unused'), '');
    rmSync(join(tmpdir(), 'berth-test-unused'));
  });

  it('runs a process with 5,000 environment variables, 1,000 arguments and 1,000 additional groups', async () => {
    const env = Array.from({ length: 5000 }, (_, i) => `V_${i}=value-${i}`);
    const args = Array.from({ length: 1000 }, (_, i) => `arg-${i}`);
    const gids = Array.from({ length: 1000 }, (_, i) => 10000 + i);
    const r = await h.run((c) => {
      c.process!.args = ['/bin/sh', '-c', 'echo $#; env | grep -c "^V_"; echo $V_4999; id -G | wc -w; shift 999; echo "$1"', 'sh', ...args];
      c.process!.env = [...c.process!.env!, ...env];
      c.process!.user = { uid: 0, gid: 0, additionalGids: gids };
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['1000', '5000', 'value-4999', '1001', 'arg-999']);
  });
});
