/**
 * The engine under stress and after failures, through the CLI: several commands at once (one
 * name, two runs: one wins; rm -f during logs -f; ps while containers come and go), a CLI or a
 * monitor killed with SIGKILL at any point (ps stays truthful; rm -f and system check clean up
 * completely), images in use (rmi refuses; -f keeps the layers), and images from a registry
 * and a real distribution (Debian, debootstrapped).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Engine, enginePaths } from '../../src/engine/index.ts';
import { FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT, openAttach, SEND_CLIENT_CLEANS, type AttachSession } from '../../src/engine/container-attach.ts';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BERTH, berth, berthChild, busyboxRoot, ok, removeRoot, repoDir } from '../fixtures/berth-cli.ts';
import { startRegistry, type TestRegistry } from '../fixtures/registry.ts';
import { signalProcess } from '../../src/common/index.ts';

const skip = process.getuid?.() === 0 ? false : 'the container e2e tests need root';

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Everything of berth's for containers of `root` that exists on the host. */
function traces(root: string): string[] {
  const found: string[] = [];
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const d of list(join(root, 'containers'))) found.push(`dir ${d}`);
  for (const d of list(join(root, 'run/runtime')).filter((n) => n !== '.seccomp-cache')) found.push(`runtime state ${d}`);
  for (const d of list(join(root, 'run/attach'))) found.push(`attach socket ${d}`);
  // this root's containers' cgroups: /berth-<hash of the root>/<id> (src/engine/container-paths.ts)
  const parent = enginePaths(root).cgroupParent.slice(1);
  for (const hierarchy of list('/sys/fs/cgroup')) {
    for (const d of list(join('/sys/fs/cgroup', hierarchy, parent))) found.push(`cgroup ${hierarchy}/${parent}/${d}`);
  }
  for (const d of list(join('/sys/fs/cgroup', parent))) found.push(`cgroup ${parent}/${d}`);
  return found;
}

function pidOf(root: string, name: string): number {
  return Number(ok(berth(root, ['inspect', '-f', '{{.State.Pid}}', name])).trim());
}

function parentOf(pid: number): number {
  return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('berth containers: concurrency and failures', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  before(() => {
    box = busyboxRoot('robust');
    root = box.root;
  });
  after(() => box?.remove());
  const clean = () => {
    const ids = ok(berth(root, ['ps', '-aq'])).split('\n').filter(Boolean);
    if (ids.length) ok(berth(root, ['rm', '-f', ...ids]));
    assert.deepEqual(traces(root), [], 'nothing of a container is left');
  };

  it('two runs with one name at once: exactly one wins, the other is refused and leaves nothing', async () => {
    for (let round = 0; round < 3; round++) {
      const runs = [0, 1, 2].map(() => berthChild(root, ['run', '-d', '--name', `same-${round}`, 'busybox', 'sleep', '30']));
      const results = await Promise.all(runs.map((r) => r.done));
      const won = results.filter((r) => r.status === 0);
      assert.equal(won.length, 1, results.map((r) => r.stderr).join('\n'));
      for (const r of results.filter((x) => x.status !== 0)) {
        assert.equal(r.status, 125);
        assert.match(r.stderr, new RegExp(`The container name "/same-${round}" is already in use`));
      }
      assert.equal(ok(berth(root, ['ps', '-aq'])).split('\n').filter(Boolean).length, 1);
      ok(berth(root, ['rm', '-f', `same-${round}`]));
    }
    clean();
  });

  it('rm -f during logs -f: the follower ends, the container is gone', async () => {
    ok(berth(root, ['run', '-d', '--name', 'followed', 'busybox', 'sh', '-c', 'while true; do echo line; sleep 0.05; done']));
    const follow = berthChild(root, ['logs', '-f', 'followed']);
    await until(() => berth(root, ['logs', 'followed']).stdout.split('\n').length > 5, 'some lines');
    ok(berth(root, ['rm', '-f', 'followed']));
    const r = await Promise.race([follow.done, sleep(10_000).then(() => undefined)]);
    assert.ok(r, 'logs -f ended');
    assert.match(r.stdout, /^line\n/);
    clean();
  });

  it('ps, inspect and logs while containers start and die around them never fail', async () => {
    const runs = Array.from({ length: 8 }, (_, i) => berthChild(root, ['run', '--rm', '--name', `churn-${i}`, 'busybox', 'sh', '-c', `echo ${i}; sleep 0.${i}`]));
    let all = false;
    const watcher = (async () => {
      let n = 0;
      while (!all) {
        const r = await berthChild(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']).done;
        assert.equal(r.status, 0, r.stderr);
        n++;
      }
      return n;
    })();
    const results = await Promise.all(runs.map((r) => r.done));
    all = true;
    assert.ok((await watcher) > 0);
    results.forEach((r, i) => assert.deepEqual([r.status, r.stdout], [0, `${i}\n`], r.stderr));
    clean();
  });

  it('50 containers started at once with run -d all run, and rm -f of all removes them', async () => {
    const n = 50;
    const runs = Array.from({ length: n }, (_, i) => berthChild(root, ['run', '-d', '--name', `many-${i}`, 'busybox', 'sleep', '60']));
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    assert.equal(ok(berth(root, ['ps', '-q'])).split('\n').filter(Boolean).length, n);
    ok(berth(root, ['rm', '-f', ...Array.from({ length: n }, (_, i) => `many-${i}`)]));
    clean();
  });

  it('a foreground CLI killed with SIGKILL leaves a running container ps shows truthfully; rm -f removes all of it', async () => {
    const { child } = berthChild(root, ['run', '--name', 'orphaned', 'busybox', 'sh', '-c', 'sleep 30']);
    await until(() => berth(root, ['ps', '--format', '{{.Names}}']).stdout.includes('orphaned'), 'the container to run');
    child.kill('SIGKILL');
    await sleep(200);
    assert.match(ok(berth(root, ['ps', '--format', '{{.Names}} {{.State}}'])), /orphaned running/);
    ok(berth(root, ['rm', '-f', 'orphaned']));
    clean();
  });

  it('a foreground run --rm killed with SIGKILL: its container, once ended, is removed all the same (the monitor does it)', async () => {
    const { child } = berthChild(root, ['run', '--rm', '--name', 'rm-orphan', 'busybox', 'sh', '-c', 'sleep 1']);
    await until(() => berth(root, ['ps', '--format', '{{.Names}}']).stdout.includes('rm-orphan'), 'the container to run');
    child.kill('SIGKILL');
    await until(() => berth(root, ['inspect', 'rm-orphan']).status !== 0, 'the container to be removed', 10_000);
    clean();
  });

  it('a monitor that runs only after its container ended still serves every client that came before the start: all output, the exit, who finishes it; wait removed removes a --rm container its finisher left', async () => {
    // the monitor is stopped (as a loaded machine may leave it unscheduled) while three clients
    // connect and the program runs and ends; each must still see everything, and the one that
    // said it finishes the container must be heard (the monitor then runs no exit command)
    const engine = new Engine({ root });
    try {
      for (const tty of [false, true]) {
        const { record } = await engine.containers.create({ image: 'busybox', name: `late-${tty}`, tty, autoRemove: true, command: ['sh', '-c', 'echo one; echo two >&2; exit 4'] });
        const sessions: AttachSession[] = [];
        let monitorPid = 0;
        let pid = 0;
        await engine.containers.start(record.id, {
          beforeStart: async (paths, rec) => {
            monitorPid = rec.monitorPid;
            pid = rec.pid;
            signalProcess(monitorPid, 'SIGSTOP');
            for (let i = 0; i < 3; i++) sessions.push(await openAttach(paths.attachPath));
            sessions[0]!.send(SEND_CLIENT_CLEANS);
          },
        });
        const seen = sessions.map((s) => {
          const got = { out: '', exit: -1 };
          s.onFrame((type, data) => {
            if (type === FRAME_STDOUT || type === FRAME_STDERR) got.out += data.toString();
            if (type === FRAME_EXIT) got.exit = (JSON.parse(data.toString()) as { exitCode: number }).exitCode;
          });
          return got;
        });
        await until(() => /^\S+ \(\S+\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), 'the program to end, unreaped');
        signalProcess(monitorPid, 'SIGCONT');
        await Promise.all(sessions.map((s) => s.closed));
        for (const got of seen) {
          assert.equal(got.exit, 4, `tty ${tty}: every client sees the exit`);
          assert.equal(got.out.replace(/\r/g, '').split('\n').sort().join(' '), ' one two', `tty ${tty}: every client sees all output`);
        }
        // the client that finishes it was heard: the monitor ran no exit command, the container waits for it
        await sleep(300);
        assert.equal(engine.containers.get(record.id).id, record.id, `tty ${tty}: nobody else removed it`);
        if (tty) await engine.containers.cleanup(record.id);
        // a finisher that never finishes (killed after the exit): `wait removed` does not hang, it removes
        else assert.deepEqual(await engine.containers.wait(record.id, 'removed'), { StatusCode: 4 });
        assert.throws(() => engine.containers.get(record.id), /No such container/);
      }
    } finally {
      engine.close();
    }
    clean();
  });

  it('a killed monitor: the container is stopped and shown exited, system check finishes what nobody else will', async () => {
    ok(berth(root, ['run', '-d', '--name', 'lost', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done']));
    const pid = pidOf(root, 'lost');
    signalProcess(parentOf(pid), 'SIGKILL');
    await sleep(200);
    assert.match(ok(berth(root, ['ps', '--format', '{{.Names}} {{.State}}'])), /lost running/, 'the process still runs');
    ok(berth(root, ['stop', '-t', '2', 'lost']));
    assert.equal(ok(berth(root, ['inspect', '-f', '{{.State.Status}}', 'lost'])).trim(), 'exited');
    assert.match(ok(berth(root, ['inspect', '-f', '{{.State.Error}}', 'lost'])), /monitor was killed/);
    // a --rm container whose monitor and process are both killed: system check removes it
    ok(berth(root, ['run', '-d', '--rm', '--name', 'lost-rm', 'busybox', 'sleep', '60']));
    const pid2 = pidOf(root, 'lost-rm');
    signalProcess(parentOf(pid2), 'SIGKILL');
    signalProcess(pid2, 'SIGKILL');
    await sleep(200);
    assert.match(ok(berth(root, ['ps', '-a', '--format', '{{.Names}} {{.State}}'])), /lost-rm exited/, 'ps shows the truth before anyone repaired it');
    const check = ok(berth(root, ['system', 'check']));
    assert.match(check, /lost-rm\): its process and its monitor are gone; recorded as exited/);
    assert.match(check, /lost-rm\): removed \(--rm\)/);
    assert.doesNotMatch(ok(berth(root, ['ps', '-a'])), /lost-rm/);
    assert.equal(ok(berth(root, ['system', 'check'])), 'nothing to repair\n');
    clean();
  });

  it('a monitor that outlived its root (removed meanwhile) finishes nothing and makes no root again', () => {
    const gone = join(root, 'removed-root');
    const r = berth(gone, ['container', 'cleanup', 'a'.repeat(64)]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(gone), false, 'no database, network or directory of the root comes back');
  });

  it('run -d killed with SIGKILL at any point leaves what system check and rm -f clean up completely', async () => {
    for (let i = 0; i < 10; i++) {
      const { child, done } = berthChild(root, ['run', '-d', '--name', `cut-${i}`, '-m', '64m', 'busybox', 'sleep', '60']);
      await sleep(i * 15);
      child.kill('SIGKILL');
      await done;
    }
    const r = berth(root, ['system', 'check']);
    assert.equal(r.status, 0, r.stderr);
    // ps shows each truthfully: running, created, or gone
    const ps = ok(berth(root, ['ps', '-a', '--format', '{{.Names}} {{.State}}']));
    for (const line of ps.split('\n').filter(Boolean)) assert.match(line, /^cut-\d+ (running|created|exited)$/);
    clean();
    assert.equal(ok(berth(root, ['system', 'check'])), 'nothing to repair\n');
  });

  it('no fd of the caller reaches the monitor or the container, even one not marked close-on-exec', () => {
    const marker = join(root, 'caller-file');
    writeFileSync(marker, 'x');
    const r = spawnSync('bash', ['-c', `exec 7<"${marker}" 100<"${marker}" 1000<"${marker}"; exec "${BERTH}" --root "${root}" run -d --name fds busybox sleep 30`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const pid = pidOf(root, 'fds');
    for (const p of [pid, parentOf(pid)]) {
      const held = readdirSync(`/proc/${p}/fd`).map((fd) => readlinkSync(`/proc/${p}/fd/${fd}`));
      assert.ok(!held.includes(marker), `process ${p} holds the caller's file: ${held.join(' ')}`);
    }
    ok(berth(root, ['rm', '-f', 'fds']));
    clean();
  });

  it('rmi refuses an image a container uses; rmi -f untags it but keeps its layers, and the container still starts', () => {
    const other = busyboxRoot('rmi');
    try {
      ok(berth(other.root, ['create', '--name', 'user-of-image', 'busybox', 'echo', 'still-here']));
      const r = berth(other.root, ['rmi', 'busybox']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /image is being used by stopped container [0-9a-f]{12}/);
      ok(berth(other.root, ['rmi', '-f', 'busybox']));
      assert.doesNotMatch(ok(berth(other.root, ['images'])), /busybox/);
      ok(berth(other.root, ['image', 'prune', '-a', '-f']));
      assert.equal(ok(berth(other.root, ['start', '-a', 'user-of-image'])), 'still-here\n');
      ok(berth(other.root, ['rm', 'user-of-image']));
      ok(berth(other.root, ['image', 'prune', '-a', '-f']));
      assert.deepEqual(readdirSync(join(other.root, 'storage/overlay')).filter((n) => /^[0-9a-f]{64}$/.test(n)), [], 'then the layer goes');
    } finally {
      other.remove();
    }
  });

  describe('images from elsewhere', () => {
    let registry: TestRegistry | undefined;
    let work = '';
    before(async () => {
      work = mkdtempSync(join(tmpdir(), 'berth-test-robust-work-'));
      registry = await startRegistry();
    });
    after(async () => {
      await registry?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('run pulls a missing image from a registry first, as docker run does', async () => {
      const archive = join(work, 'busybox.tar');
      ok(berth(root, ['save', '-o', archive, 'busybox']));
      await registry!.push(`docker-archive:${archive}`, 'test/busybox:v1');
      const fresh = mkdtempSync(join(tmpdir(), 'berth-test-robust-pull-'));
      try {
        const ref = `${registry!.host}/test/busybox:v1`;
        const r = berth(fresh, ['--insecure-registry', registry!.host, 'run', '--rm', ref, 'echo', 'pulled-and-ran']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, 'pulled-and-ran\n');
        assert.match(r.stderr, new RegExp(`Unable to find image '${ref.replace(/\./g, '\\.')}' locally`));
        const again = berth(fresh, ['run', '--rm', '--pull', 'never', ref, 'echo', 'local']);
        assert.deepEqual([again.status, again.stdout, again.stderr], [0, 'local\n', '']);
      } finally {
        removeRoot(fresh);
      }
    });

    it('runs Debian (glibc, dynamic binaries) with users of its own', () => {
      const made = spawnSync(join(repoDir, 'node_modules/node/bin/node'), [join(repoDir, 'scripts/make-debian-image.mjs'), '--root', root], { encoding: 'utf8', timeout: 600_000 });
      assert.equal(made.status, 0, made.stderr);
      const image = 'debian:bookworm-minbase';
      assert.equal(ok(berth(root, ['run', '--rm', image, 'cat', '/etc/debian_version'])).trim().split('.')[0], '12');
      assert.equal(ok(berth(root, ['run', '--rm', '-u', 'nobody', image, 'sh', '-c', 'id -un; id -gn; echo $HOME'])), 'nobody\nnogroup\n/nonexistent\n');
      assert.equal(ok(berth(root, ['run', '--rm', '-u', 'daemon:tty', image, 'id'])), 'uid=1(daemon) gid=5(tty) groups=5(tty)\n');
      ok(berth(root, ['run', '-d', '--name', 'deb', image, 'sleep', '30']));
      assert.equal(ok(berth(root, ['exec', '-u', 'www-data', 'deb', 'id', '-un'])), 'www-data\n');
      ok(berth(root, ['rm', '-f', 'deb']));
      clean();
    });
  });
});
