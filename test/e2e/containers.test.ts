/**
 * `berth` container verbs end to end, as root, through the CLI: run (exit codes, --rm, -d,
 * -i, -t through a real pty, detach and attach), logs, exec, stop, kill, rm, ps, inspect, the
 * limits (OOM, pids), the filesystem flags (--read-only, --tmpfs, -v), users, --init, docker's
 * default seccomp profile, restart policies, log rotation, and bad input (docker's message, exit
 * 125, nothing created). Every test leaves its root with no container.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { berth, berthChild, busyboxRoot, containerDirs, ok, BERTH } from '../fixtures/berth-cli.ts';

const skip = process.getuid?.() === 0 ? false : 'the container e2e tests need root';

/** Polls `check` until true (or fails after timeoutMs). */
async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function inspect(root: string, name: string, format: string): string {
  return ok(berth(root, ['inspect', '-f', format, name])).trim();
}

describe('berth containers', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let work = '';
  before(() => {
    box = busyboxRoot('containers');
    root = box.root;
    work = mkdtempSync(join(tmpdir(), 'berth-test-containers-work-'));
  });
  after(() => {
    box?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });
  const noContainers = () => {
    assert.equal(berth(root, ['ps', '-aq']).stdout, '', 'no container is left');
    assert.deepEqual(containerDirs(root), [], 'no container directory is left');
  };

  describe('run', () => {
    it('runs a command in busybox, passes its output and exit code, and --rm leaves nothing', () => {
      let r = berth(root, ['run', '--rm', 'busybox', 'echo', 'hello']);
      assert.deepEqual([r.status, r.stdout, r.stderr], [0, 'hello\n', '']);
      r = berth(root, ['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual([r.status, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
      noContainers();
    });

    it('exits 127 for a program that does not exist and 126 for one that cannot run, naming it', () => {
      let r = berth(root, ['run', '--rm', 'busybox', 'no-such-program']);
      assert.equal(r.status, 127);
      assert.match(r.stderr, /no-such-program.*not found/);
      r = berth(root, ['run', '--rm', 'busybox', '/etc/passwd']);
      assert.equal(r.status, 126);
      assert.match(r.stderr, /\/etc\/passwd.*permission denied/);
      // without --rm the container stays, created, with the code and the error (as docker keeps it)
      r = berth(root, ['run', '--name', 'no-program', 'busybox', 'no-such-program']);
      assert.equal(r.status, 127);
      assert.equal(inspect(root, 'no-program', '{{.State.Status}} {{.State.ExitCode}}'), 'created 127');
      assert.match(inspect(root, 'no-program', '{{.State.Error}}'), /no-such-program/);
      ok(berth(root, ['rm', 'no-program']));
      noContainers();
    });

    it('refuses bad input with exit 125 and a message naming the problem, creating nothing', () => {
      const cases: [string[], RegExp][] = [
        [['run', '--no-such-flag', 'busybox', 'true'], /unknown flag --no-such-flag/],
        [['run', '--memory', 'lots', 'busybox', 'true'], /invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'/],
        [['run', '--memory', '1k', 'busybox', 'true'], /Minimum memory limit allowed is 6MB/],
        [['run', '--pull', 'never', 'no-such-image', 'true'], /No such image: no-such-image/],
        [['run', '--restart', 'sometimes', 'busybox', 'true'], /invalid restart policy format: no such policy: sometimes/],
        [['run', '--rm', '--restart', 'always', 'busybox', 'true'], /Conflicting options: --restart and --rm/],
        [['run', '-v', 'relative/dir:/data', 'busybox', 'true'], /includes invalid characters for a local volume name/],
        [['run', '--mount', 'type=bind,source=/no/such/dir,target=/x', 'busybox', 'true'], /bind source path does not exist: \/no\/such\/dir/],
        [['run', '--name', 'bad/name', 'busybox', 'true'], /Invalid container name \(bad\/name\)/],
        [['run', '--cap-add', 'NOT_A_CAP', 'busybox', 'true'], /unknown capability: "CAP_NOT_A_CAP"/],
        [['run', '-w', 'relative', 'busybox', 'true'], /the working directory 'relative' is invalid/],
        [['run', '--network', 'nowhere', 'busybox', 'true'], /network nowhere not found/],
        [['run', '--ulimit', 'nofile=10:5', 'busybox', 'true'], /soft limit must be less than or equal to hard limit/],
        [['run', '--add-host', 'myhost:not-an-ip', 'busybox', 'true'], /invalid IP address in add-host/],
        [['run', '--security-opt', 'seccomp=/no/such/profile.json', 'busybox', 'true'], /opening seccomp profile \(\/no\/such\/profile.json\) failed/],
        [['run', '--gidmap', '0:100000:65536', 'busybox', 'true'], /--gidmap needs --uidmap too/],
        [['run', '--network', 'none', '-p', '80:80:80:80', 'busybox', 'true'], /invalid port specification: "80:80:80:80": too many colons/],
        [['run', '--network', 'none', '--add-host', 'gw:host-gateway', 'busybox', 'true'], /host-gateway needs a bridge network/],
        [['run', '--ip', '10.99.0.9', 'busybox', 'true'], /user specified IP address is supported on user defined networks only/],
        [['create', '--bogus'], /unknown flag --bogus/],
      ];
      for (const [args, message] of cases) {
        const r = berth(root, args);
        assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
      }
      noContainers();
    });

    it('refuses a name in use (docker\'s message) and an unknown container (exit 1)', () => {
      ok(berth(root, ['create', '--name', 'taken', 'busybox', 'true']));
      let r = berth(root, ['run', '--name', 'taken', 'busybox', 'true']);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /Conflict\. The container name "\/taken" is already in use by container "[0-9a-f]{64}"/);
      for (const verb of [['stop'], ['start'], ['rm'], ['logs'], ['inspect'], ['kill'], ['exec', 'true']]) {
        r = berth(root, [verb[0]!, 'no-such-container', ...verb.slice(1)]);
        assert.equal(r.status, 1, verb.join(' '));
        assert.match(r.stderr, /No such (container|object): no-such-container/, verb.join(' '));
      }
      ok(berth(root, ['rm', 'taken']));
      noContainers();
    });

    it('gives the container docker\'s environment, hostname and /etc files, and -e, -w, -h, --add-host, --dns', () => {
      const envFile = join(work, 'env');
      writeFileSync(envFile, '# a comment\nFROM_FILE=yes\n\nB=from-file\n');
      const r = berth(root, ['run', '--rm', '-e', 'A=1', '--env-file', envFile, '-e', 'B=flag', '-w', '/tmp', '-h', 'box1', '--add-host', 'db:10.1.2.3', '--dns', '192.0.2.53',
        'busybox', 'sh', '-c', 'echo "$A $B $FROM_FILE $HOSTNAME $HOME $PATH"; pwd; hostname; cat /etc/hostname; grep db /etc/hosts; grep nameserver /etc/resolv.conf']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '1 flag yes box1 /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp\nbox1\nbox1\n10.1.2.3\tdb\nnameserver 192.0.2.53\n');
    });

    it('applies --entrypoint, the image\'s CMD and arguments as docker does', () => {
      assert.equal(ok(berth(root, ['run', '--rm', '--entrypoint', 'echo', 'busybox', 'a', 'b'])), 'a b\n');
      // the image's CMD is ["sh"]: with input on stdin it runs it
      assert.equal(ok(berth(root, ['run', '--rm', '-i', 'busybox'], { input: 'echo from-cmd\n' })), 'from-cmd\n');
    });

    it('-i passes stdin and closes it at its end; without -i the container reads nothing', () => {
      assert.equal(ok(berth(root, ['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'line1\nline2\n' })), 'line1\nline2\ndone\n');
      assert.equal(ok(berth(root, ['run', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'ignored\n' })), 'done\n');
    });

    it('prints the whole plan with --explain and runs nothing', () => {
      const r = ok(berth(root, ['run', '--explain', '--rm', '-m', '64m', 'busybox', 'true']));
      assert.match(r, /image: .*busybox/);
      assert.match(r, /mount\("overlay"/);
      assert.match(r, /monitor: berth-init stays/);
      assert.match(r, /pivot_root/);
      assert.match(r, /seccomp/);
      noContainers();
    });
  });

  describe('detached containers', () => {
    it('-d, then logs -f, exec, stop (SIGTERM, then SIGKILL after -t), rm', async () => {
      const id = ok(berth(root, ['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'trap "echo got-term; exit 0" TERM; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done'])).trim();
      assert.match(id, /^[0-9a-f]{64}$/);
      const follow = berthChild(root, ['logs', '-f', 'ticker']);
      await until(() => berth(root, ['logs', 'ticker']).stdout.includes('tick-3'), 'four ticks in the log');
      const ps = ok(berth(root, ['ps']));
      assert.match(ps, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
      assert.match(ps, new RegExp(`^${id.slice(0, 12)} +busybox +"sh -c trap "echo go…" +.* +Up .* +ticker\\n`, 'm'));
      const exec = berth(root, ['exec', 'ticker', 'sh', '-c', 'echo in-$HOSTNAME; cat /proc/1/cmdline | head -c 2; exit 4']);
      assert.deepEqual([exec.status, exec.stdout], [4, `in-${id.slice(0, 12)}\nsh`]);
      assert.equal(ok(berth(root, ['stop', 'ticker'])), 'ticker\n');
      const logs = await follow.done;
      assert.equal(logs.status, 0, 'logs -f ends with the container');
      assert.match(logs.stdout, /^tick-0\ntick-1\n/);
      assert.match(logs.stdout, /got-term\n$/);
      assert.equal(inspect(root, 'ticker', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}'), 'exited 0 false');
      assert.match(ok(berth(root, ['ps', '-a'])), /Exited \(0\) .* ticker/);
      // a process that ignores SIGTERM is killed after the timeout
      ok(berth(root, ['run', '-d', '--name', 'stubborn', 'busybox', 'sleep', '60']));
      const t0 = Date.now();
      ok(berth(root, ['stop', '-t', '1', 'stubborn']));
      assert.ok(Date.now() - t0 >= 900, 'stop waited for the timeout');
      assert.equal(inspect(root, 'stubborn', '{{.State.ExitCode}}'), '137');
      assert.equal(ok(berth(root, ['rm', 'ticker', 'stubborn'])), 'ticker\nstubborn\n');
      noContainers();
    });

    it('refuses to remove a running container without -f, and -f kills and removes it', () => {
      ok(berth(root, ['run', '-d', '--name', 'busy', 'busybox', 'sleep', '60']));
      const r = berth(root, ['rm', 'busy']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /You cannot remove a running container [0-9a-f]{64}\. Stop the container before attempting removal or force remove/);
      ok(berth(root, ['rm', '-f', 'busy']));
      noContainers();
    });

    it('pause and unpause freeze and thaw, kill sends signals, restart runs it again, rename renames', async () => {
      ok(berth(root, ['run', '-d', '--name', 'p1', 'busybox', 'sh', '-c', 'trap "echo usr1" USR1; while true; do sleep 0.1; done']));
      ok(berth(root, ['pause', 'p1']));
      assert.equal(inspect(root, 'p1', '{{.State.Status}} {{.State.Paused}}'), 'paused true');
      assert.match(berth(root, ['exec', 'p1', 'true']).stderr, /is paused, unpause the container before exec/);
      ok(berth(root, ['unpause', 'p1']));
      ok(berth(root, ['kill', '-s', 'USR1', 'p1']));
      await until(() => berth(root, ['logs', 'p1']).stdout.includes('usr1'), 'the trap of USR1');
      const before = inspect(root, 'p1', '{{.State.Pid}}');
      ok(berth(root, ['restart', '-t', '0', 'p1']));
      assert.notEqual(inspect(root, 'p1', '{{.State.Pid}}'), before);
      assert.equal(inspect(root, 'p1', '{{.State.Status}}'), 'running');
      ok(berth(root, ['rename', 'p1', 'p2']));
      assert.equal(inspect(root, 'p2', '{{.Name}}'), '/p2');
      ok(berth(root, ['kill', 'p2']));
      await until(() => inspect(root, 'p2', '{{.State.Status}}') === 'exited', 'the killed container to exit');
      assert.equal(inspect(root, 'p2', '{{.State.ExitCode}}'), '137');
      const r = berth(root, ['kill', 'p2']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /is not running/);
      ok(berth(root, ['rm', 'p2']));
      noContainers();
    });

    it('wait prints the exit code; top lists the processes; stats reads the cgroup', () => {
      // the container waits for a go from exec: nothing here depends on how fast the machine is
      ok(berth(root, ['run', '-d', '--name', 'w1', 'busybox', 'sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 42']));
      const top = ok(berth(root, ['top', 'w1']));
      assert.match(top, /^UID +PID +PPID +C +STIME +TTY +TIME +CMD\n/);
      assert.match(top, /sh -c while/);
      const stats = ok(berth(root, ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'w1']));
      assert.match(stats, /^w1 [12] [\d.]+[KMG]?i?B \/ [\d.]+[KMG]iB\n$/);
      ok(berth(root, ['exec', 'w1', 'touch', '/tmp/go']));
      assert.equal(ok(berth(root, ['wait', 'w1'])), '42\n');
      assert.equal(inspect(root, 'w1', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 42');
      ok(berth(root, ['rm', 'w1']));
      noContainers();
    });

    it('ps filters by status, name, label and exit code, and prints -q, --format json and --no-trunc', () => {
      ok(berth(root, ['run', '-d', '--name', 'f-run', '-l', 'team=a', 'busybox', 'sleep', '60']));
      assert.equal(berth(root, ['run', '--name', 'f-exit', '-l', 'team=b', 'busybox', 'sh', '-c', 'exit 2']).status, 2);
      ok(berth(root, ['create', '--name', 'f-created', 'busybox', 'true']));
      const names = (args: string[]) => ok(berth(root, ['ps', ...args, '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
      assert.deepEqual(names([]), ['f-run']);
      assert.deepEqual(names(['-a']), ['f-created', 'f-exit', 'f-run']);
      assert.deepEqual(names(['-a', '--filter', 'status=exited']), ['f-exit']);
      assert.deepEqual(names(['--filter', 'status=created']), ['f-created']);
      assert.deepEqual(names(['-a', '--filter', 'label=team=b']), ['f-exit']);
      assert.deepEqual(names(['-a', '--filter', 'exited=2']), ['f-exit']);
      assert.deepEqual(names(['-a', '--filter', 'name=f-c']), ['f-created']);
      assert.deepEqual(names(['-a', '--filter', 'ancestor=busybox']), ['f-created', 'f-exit', 'f-run']);
      assert.deepEqual(names(['-n', '1']), ['f-created']);
      const q = ok(berth(root, ['ps', '-aq'])).split('\n').filter(Boolean);
      assert.equal(q.length, 3);
      for (const id of q) assert.match(id, /^[0-9a-f]{12}$/);
      const json = ok(berth(root, ['ps', '-a', '--no-trunc', '--format', 'json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ID: string; State: string; Names: string });
      assert.deepEqual(json.map((j) => [j.Names, j.State, j.ID.length]).sort(), [['f-created', 'created', 64], ['f-exit', 'exited', 64], ['f-run', 'running', 64]]);
      const bad = berth(root, ['ps', '--filter', 'colour=red']);
      assert.equal(bad.status, 125);
      assert.match(bad.stderr, /invalid filter 'colour'/);
      ok(berth(root, ['rm', '-f', 'f-run', 'f-exit', 'f-created']));
      noContainers();
    });

    it('inspect shows docker\'s State, Config and HostConfig, and a Berth section with namespaces and cgroup', () => {
      ok(berth(root, ['run', '-d', '--name', 'insp', '-m', '64m', '--cpus', '0.5', '--restart', 'on-failure:3', '-e', 'X=1', 'busybox', 'sleep', '60']));
      const [doc] = JSON.parse(ok(berth(root, ['inspect', 'insp']))) as Record<string, any>[];
      assert.equal(doc!.Name, '/insp');
      assert.equal(doc!.State.Status, 'running');
      assert.equal(doc!.State.Running, true);
      assert.ok(doc!.State.Pid > 0);
      assert.deepEqual(doc!.Config.Cmd, ['sleep', '60']);
      assert.ok((doc!.Config.Env as string[]).includes('X=1'));
      assert.equal(doc!.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(doc!.HostConfig.NanoCpus, 500_000_000);
      assert.deepEqual(doc!.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
      assert.match(doc!.Berth.Namespaces.pid, /^pid:\[\d+\]$/);
      assert.equal(doc!.Berth.Namespaces.pid, `pid:[${execFileSync('stat', ['-L', '-c', '%i', `/proc/${doc!.State.Pid}/ns/pid`], { encoding: 'utf8' }).trim()}]`);
      assert.match(doc!.Berth.CgroupsPath, new RegExp(`^/berth-[0-9a-f]{12}/${doc!.Id}$`), 'a cgroup parent of this root\'s own');
      assert.ok((doc!.Berth.Cgroups as string[]).some((l) => l.endsWith(doc!.Berth.CgroupsPath)));
      // images too, and both in one call
      const both = JSON.parse(ok(berth(root, ['inspect', 'insp', 'busybox']))) as { Id: string }[];
      assert.equal(both.length, 2);
      assert.match(both[1]!.Id, /^sha256:/);
      ok(berth(root, ['rm', '-f', 'insp']));
      noContainers();
    });
  });

  describe('limits, filesystems, users and security', () => {
    it('--memory: an OOM kill is exit 137 and inspect says OOMKilled', () => {
      const r = berth(root, ['run', '--name', 'oom', '-m', '32m', '--memory-swap', '32m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
      assert.equal(r.status, 137);
      assert.equal(inspect(root, 'oom', '{{.State.OOMKilled}} {{.State.ExitCode}}'), 'true 137');
      ok(berth(root, ['rm', 'oom']));
      // the limit is the container's cgroup's
      const limit = ok(berth(root, ['run', '--rm', '-m', '64m', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes']));
      assert.equal(limit.trim(), String(64 * 1024 * 1024));
      noContainers();
    });

    it('--userns auto and --uidmap: the container\'s root is a host id of no privilege; the image shows as its own; what it writes is stored with its host ids', async (t) => {
      // auto: a block of 65536 ids of its own, far from the host's users
      const first = berth(root, ['run', '--rm', '--userns', 'auto', 'busybox', 'sh', '-c', 'cat /proc/self/uid_map; stat -c %u:%g /bin/busybox /etc/passwd; echo x > /etc/passwd && id -u']);
      if (/cannot be id-mapped on this kernel/.test(first.stderr)) {
        assert.equal(first.status, 125);
        noContainers();
        return t.skip(`the test's storage cannot be id-mapped here: ${first.stderr.trim()}`);
      }
      const auto = ok(first);
      const [, hostRoot, size] = /^\s*0\s+(\d+)\s+(\d+)\n/.exec(auto) ?? [];
      assert.ok(Number(hostRoot) >= 1_000_000 && size === '65536', auto);
      assert.match(auto, /\n0:0\n0:0\n0\n$/, 'the image\'s files are its root\'s, and it may change them (copied up)');
      // an explicit map; its processes are that host uid; its writes land in the upper dir as such
      ok(berth(root, ['run', '-d', '--name', 'mapped', '--uidmap', '0:300000:65536', 'busybox', 'sleep', '60']));
      assert.equal(ok(berth(root, ['exec', 'mapped', 'sh', '-c', 'echo hi > /made; id -u; stat -c %u /made'])), '0\n0\n');
      const pid = inspect(root, 'mapped', '{{.State.Pid}}');
      assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+300000\s+300000\s+300000\s+300000$/m);
      const id = inspect(root, 'mapped', '{{.Id}}');
      const { statSync } = await import('node:fs');
      assert.equal(statSync(join(root, 'containers', id, 'diff', 'made')).uid, 300000);
      assert.equal(statSync(join(root, 'containers', id, 'diff')).uid, 300000, 'its / is its root\'s');
      assert.equal(inspect(root, 'mapped', '{{.HostConfig.UsernsMode}}'), '');
      ok(berth(root, ['rm', '-f', 'mapped']));
      for (const [args, pattern] of [
        [['--uidmap', '1:300000:10'], /--uidmap: the mapping must include container id 0/],
        [['--userns', 'auto', '--uidmap', '0:300000:65536'], /--userns auto cannot be combined with --uidmap/],
        [['--userns', 'auto', '--network', 'host'], /a user-namespaced container cannot use --network host/],
        [['--uidmap', '0:2147483600:65536'], /ids must be from 0 to 2147483647/],
      ] as const) {
        const r = berth(root, ['run', '--rm', ...args, 'busybox', 'true']);
        assert.equal(r.status, 125, r.stderr);
        assert.match(r.stderr, pattern);
      }
      noContainers();
    });

    it('--pids-limit stops forks past the limit', () => {
      const r = berth(root, ['run', '--rm', '--pids-limit', '4', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6; do sleep 1 & done 2>&1; wait']);
      assert.match(r.stdout + r.stderr, /can't fork|Resource temporarily unavailable/);
    });

    it('--read-only with --tmpfs: the root refuses writes, the tmpfs takes them', () => {
      const r = berth(root, ['run', '--rm', '--read-only', '--tmpfs', '/scratch:size=1m', 'busybox', 'sh', '-c', 'touch /x 2>&1; touch /scratch/y && echo tmpfs-ok; grep " /scratch " /proc/mounts']);
      assert.match(r.stdout, /Read-only file system/);
      assert.match(r.stdout, /tmpfs-ok/);
      assert.match(r.stdout, /tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k/);
    });

    it('-v binds a host directory read-write or read-only, and makes a missing one', () => {
      const dir = join(work, 'bind');
      const made = join(work, 'made', 'by-v');
      ok(berth(root, ['run', '--rm', '-v', `${dir}:/data`, '-v', `${made}:/made`, 'busybox', 'sh', '-c', 'echo written > /data/f; ls -d /made']));
      assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'written\n');
      assert.ok(existsSync(made));
      const r = berth(root, ['run', '--rm', '-v', `${dir}:/data:ro`, 'busybox', 'sh', '-c', 'cat /data/f; echo again > /data/f']);
      assert.equal(r.stdout, 'written\n');
      assert.match(r.stderr, /Read-only file system/);
      assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'written\n');
    });

    it('-u takes a name from the image\'s /etc/passwd (its groups, its home), uid:gid, and --group-add', () => {
      assert.equal(ok(berth(root, ['run', '--rm', '-u', 'www-data', 'busybox', 'sh', '-c', 'echo $(id -u) $(id -g) $HOME'])), '33 33 /var/www\n');
      assert.equal(ok(berth(root, ['run', '--rm', '-u', '1234:5678', 'busybox', 'sh', '-c', 'echo $(id -u) $(id -g)'])), '1234 5678\n');
      assert.equal(ok(berth(root, ['run', '--rm', '-u', 'nobody', '--group-add', 'audio', 'busybox', 'sh', '-c', 'grep Groups /proc/self/status'])).replace(/\s+/g, ' ').trim(), 'Groups: 29');
      const r = berth(root, ['run', '--rm', '-u', 'no-such-user', 'busybox', 'true']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /unable to find user no-such-user: no matching entries in passwd file/);
      noContainers();
    });

    it('--init runs berth-init as PID 1, which reaps orphans and passes the exit code', () => {
      const r = berth(root, ['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; sh -c "sleep 0.2 & exit 0"; sleep 0.5; ps -o stat,comm | grep -c "^Z" ; exit 7']);
      assert.equal(r.status, 7, r.stderr);
      const [cmdline, zombies] = r.stdout.trim().split('\n');
      assert.match(cmdline!, /^\/dev\/init -- sh -c/);
      assert.equal(zombies, '0', 'the orphaned sleep was reaped');
    });

    it('docker\'s default seccomp profile blocks unshare of a user namespace and keyctl, which are allowed unconfined', () => {
      const probeSrc = join(work, 'probe.c');
      const probe = join(work, 'probe');
      writeFileSync(probeSrc, `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    long r = -1;
    if (!strcmp(argv[i], "keyctl")) r = syscall(SYS_keyctl, 0, -1L, 0L);
    else if (!strcmp(argv[i], "unshare-user")) r = syscall(SYS_unshare, 0x10000000L);
    else if (!strcmp(argv[i], "getpid")) r = syscall(SYS_getpid);
    printf("%s %s\\n", argv[i], r < 0 ? strerror(errno) : "ok");
  }
  return 0;
}
`);
      execFileSync('cc', ['-static', '-O1', '-o', probe, probeSrc]);
      const run = (...flags: string[]) => ok(berth(root, ['run', '--rm', ...flags, '-v', `${probe}:/probe:ro`, 'busybox', '/probe', 'getpid', 'keyctl', 'unshare-user']));
      assert.equal(run(), 'getpid ok\nkeyctl Operation not permitted\nunshare-user Operation not permitted\n');
      // unconfined, the calls reach the kernel (keyctl then finds no such key)
      assert.equal(run('--security-opt', 'seccomp=unconfined', '--cap-add', 'SYS_ADMIN'), 'getpid ok\nkeyctl Required key not available\nunshare-user ok\n');
    });

    it('drops capabilities as docker does: the default set, --cap-drop, --cap-add, --privileged', () => {
      const capEff = (...flags: string[]) => ok(berth(root, ['run', '--rm', ...flags, 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status'])).split(/\s+/)[1];
      assert.equal(capEff(), '00000000a80425fb', 'docker\'s 14 default capabilities');
      assert.equal(capEff('--cap-drop', 'ALL'), '0000000000000000');
      assert.equal(capEff('--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN'), '0000000000001000');
      assert.notEqual(capEff('--privileged'), '00000000a80425fb');
    });
  });

  describe('restart policies and logs', () => {
    it('--restart on-failure:2 restarts twice with no daemon, then leaves it exited', async () => {
      ok(berth(root, ['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3']));
      await until(() => {
        const s = inspect(root, 'flaky', '{{.State.Status}} {{.RestartCount}}');
        return s === 'exited 2';
      }, 'two restarts', 20_000);
      assert.equal(inspect(root, 'flaky', '{{.State.ExitCode}}'), '3');
      assert.equal(ok(berth(root, ['logs', 'flaky'])), 'run\nrun\nrun\n');
      ok(berth(root, ['rm', 'flaky']));
      noContainers();
    });

    it('--restart always brings a container back until it is stopped', async () => {
      ok(berth(root, ['run', '-d', '--name', 'phoenix', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.2; exit 0']));
      await until(() => Number(inspect(root, 'phoenix', '{{.RestartCount}}')) >= 2, 'two restarts', 20_000);
      ok(berth(root, ['stop', 'phoenix']));
      await sleep(500);
      assert.equal(inspect(root, 'phoenix', '{{.State.Status}}'), 'exited');
      ok(berth(root, ['rm', 'phoenix']));
      noContainers();
    });

    it('rotates the json-file log at max-size keeping max-file files; logs --tail, -t, --since', () => {
      ok(berth(root, ['run', '--name', 'chatty', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c', 'for i in $(seq 1 200); do echo line-$i; done']));
      const dir = join(root, 'containers', inspect(root, 'chatty', '{{.Id}}'));
      const files = readdirSync(dir).filter((f) => f.includes('-json.log')).sort();
      assert.equal(files.length, 2, files.join(' '));
      const logs = ok(berth(root, ['logs', 'chatty'])).split('\n').filter(Boolean);
      assert.equal(logs.at(-1), 'line-200');
      assert.ok(logs.length < 200, 'the oldest lines were rotated away');
      assert.equal(ok(berth(root, ['logs', '--tail', '2', 'chatty'])), 'line-199\nline-200\n');
      assert.match(ok(berth(root, ['logs', '-t', '-n', '1', 'chatty'])), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line-200\n$/);
      assert.equal(ok(berth(root, ['logs', '--since', '2h', '-n', '1', 'chatty'])), 'line-200\n');
      assert.equal(ok(berth(root, ['logs', '--until', '2h', 'chatty'])), '');
      ok(berth(root, ['rm', 'chatty']));
      noContainers();
    });

    it('--log-driver none keeps no log, and logs says so', () => {
      ok(berth(root, ['run', '--name', 'quiet', '--log-driver', 'none', 'busybox', 'echo', 'hi']));
      const r = berth(root, ['logs', 'quiet']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /configured logging driver does not support reading/);
      ok(berth(root, ['rm', 'quiet']));
    });
  });

  describe('terminals', () => {
    // input typed before the client has put the terminal in raw mode meets the tty's cooked
    // mode, where ^Q is flow control and never reaches it: `waitFor` holds the input back until
    // that text (the shell's prompt) is on the terminal
    const script = (command: string, input: string[], delayMs = 400, waitFor?: string) => {
      const out = join(work, `pty-${Date.now()}`);
      const wait = waitFor === undefined ? '' : `until grep -qF '${waitFor}' ${out} 2>/dev/null; do sleep 0.1; done; `;
      const feed = wait + input.map((s) => `sleep ${delayMs / 1000}; printf '${s}'`).join('; ');
      const res = spawnSync('sh', ['-c', `(${feed}; sleep 1) | script -qefc "${command}" ${out} > /dev/null`], { encoding: 'utf8', timeout: 30_000 });
      const text = existsSync(out) ? readFileSync(out, 'utf8').replace(/\r/g, '') : '';
      return { status: res.status, text };
    };

    it('-it runs a shell on a real pty: its prompt, a command, its exit code', () => {
      const r = script(`${BERTH} --root ${root} run -it --rm busybox sh`, ['tty; echo hi-there\\r', 'exit 5\\r']);
      assert.equal(r.status, 5, r.text);
      assert.match(r.text, /\/ # /, 'the prompt');
      assert.match(r.text, /\/dev\/pts\/0\nhi-there\n/);
      noContainers();
    });

    it('ctrl-p ctrl-q detaches, attach comes back to the same shell', () => {
      const first = script(`${BERTH} --root ${root} run -it --name tty1 busybox sh`, ['export MARK=kept\\r', '\\020\\021'], 400, '/ # ');
      assert.equal(first.status, 0, first.text);
      assert.equal(inspect(root, 'tty1', '{{.State.Status}}'), 'running');
      const second = script(`${BERTH} --root ${root} attach tty1`, ['echo mark-$MARK\\r', 'exit 9\\r']);
      assert.equal(second.status, 9, second.text);
      assert.match(second.text, /mark-kept/);
      ok(berth(root, ['rm', 'tty1']));
      noContainers();
    });
  });
});
