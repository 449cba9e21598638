/** What the container sees: its own pid 1, hostname, mounts, root, capabilities, limits, user. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { harness, sh, skipUnlessRoot, waitFor } from './helpers.ts';
import { capabilityMask, type RuntimeConfig } from '../../src/oci/index.ts';
import { uniqueId } from '../fixtures/bundle.ts';

/** A user namespace mapping container ids 0-65535 to host ids 100000-165535. */
function inUserNamespace(c: RuntimeConfig): void {
  // the mapped root (host uid 100000) must be able to reach the rootfs, as with runc
  c.root!.path = 'rootfs';
  c.linux!.namespaces!.push({ type: 'user' });
  c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  // sysfs and mqueue cannot be mounted fresh from a user namespace without a net ns of its own: keep it simple
  c.mounts = c.mounts!.filter((m) => m.destination !== '/sys' && m.destination !== '/sys/fs/cgroup');
}

describe('berth-runtime isolation', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());

  it('runs the process as PID 1 and shows it no host process', async () => {
    const r = await h.run(sh('echo pid=$$; ls /proc | grep -c "^[0-9]"'));
    assert.equal(r.exitCode, 0, r.stderr);
    const [pidLine, count] = r.stdout.trim().split('\n');
    assert.equal(pidLine, 'pid=1');
    // sh itself, plus ls and grep of the pipeline at most
    assert.ok(Number(count) <= 3, `container sees ${count} processes`);
  });

  it('gives the container its own hostname when it has a uts namespace', async () => {
    const r = await h.run((c) => {
      c.hostname = 'berth-box';
      c.process!.args = ['/bin/hostname'];
    });
    assert.equal(r.stdout.trim(), 'berth-box');
  });

  it('passes the exit status of the process through', async () => {
    const r = await h.run(sh('exit 42'));
    assert.equal(r.exitCode, 42);
  });

  it('has its own mount table where the old root is unreachable', async () => {
    const marker = mkdtempSync(join(tmpdir(), 'berth-test-hostonly-'));
    after(() => rmSync(marker, { recursive: true, force: true }));
    const r = await h.run(sh(`ls ${marker} 2>&1; cat /proc/self/mountinfo | wc -l; awk '$5 == "/"' /proc/self/mountinfo | wc -l`));
    assert.match(r.stdout, /No such file or directory/);
    const [, lines, roots] = r.stdout.trim().split('\n');
    assert.ok(Number(lines) < 40, `mountinfo has ${lines} lines: the host's mounts leak in`);
    assert.equal(Number(roots), 1, 'exactly one root mount');
  });

  it('keeps a readonly root read-only', async () => {
    const r = await h.run(sh('touch /newfile 2>&1; echo status=$?'));
    assert.match(r.stdout, /Read-only file system/);
    assert.match(r.stdout, /status=1/);
  });

  it('masks masked paths and keeps readonly paths read-only', async () => {
    const file = ['/proc/keys', '/proc/timer_list', '/proc/kcore'].find((f) => existsSync(f));
    assert.ok(file, 'the host has a masked /proc file to test with');
    const r = await h.run(sh(`wc -c < ${file}; ls /sys/firmware | wc -l; (echo 1 > /proc/sys/kernel/domainname) 2>&1; echo status=$?`));
    const [masked, firmware] = r.stdout.trim().split('\n');
    assert.equal(masked, '0', `${file} is /dev/null`);
    assert.equal(firmware, '0', '/sys/firmware is an empty tmpfs');
    assert.match(r.stdout, /Read-only file system/);
  });

  it('drops capabilities to exactly the configured sets', async () => {
    const caps = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    const r = await h.run((c) => {
      c.process!.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] };
      c.process!.args = ['/bin/sh', '-c', 'grep -E "^Cap(Eff|Bnd|Prm)" /proc/self/status'];
    });
    const want = capabilityMask(caps).toString(16).padStart(16, '0');
    assert.match(r.stdout, new RegExp(`CapEff:\\s+${want}`));
    assert.match(r.stdout, new RegExp(`CapBnd:\\s+${want}`));
    assert.match(r.stdout, new RegExp(`CapPrm:\\s+${want}`));
  });

  it('sets no_new_privs when asked', async () => {
    const on = await h.run((c) => {
      c.process!.noNewPrivileges = true;
      c.process!.args = ['/bin/grep', 'NoNewPrivs', '/proc/self/status'];
    });
    assert.match(on.stdout, /NoNewPrivs:\s+1/);
    const off = await h.run((c) => {
      c.process!.noNewPrivileges = false;
      c.process!.args = ['/bin/grep', 'NoNewPrivs', '/proc/self/status'];
    });
    assert.match(off.stdout, /NoNewPrivs:\s+0/);
  });

  it('denies a syscall through a seccomp rule', async () => {
    const r = await h.run((c) => {
      c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      c.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
      };
      c.process!.args = ['/bin/sh', '-c', 'mkdir /tmp/x 2>&1; echo status=$?; touch /tmp/y && echo touched'];
    });
    assert.match(r.stdout, /Operation not permitted/);
    assert.match(r.stdout, /status=1/);
    assert.match(r.stdout, /touched/, 'other syscalls still work');
  });

  // a listener of the test's own: takes the fd and the state, then closes the fd, after which
  // the kernel fails the notified syscalls with ENOSYS
  const withListener = async (fn: (sock: string) => Promise<void>): Promise<{ state: Record<string, any>; nfds: number; kind: string }> => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-seccomp-'));
    const sock = join(dir, 'listener.sock');
    const out = join(dir, 'got.json');
    writeFileSync(
      join(dir, 'listener.py'),
      [
        'import json, os, socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)',
        "open(sys.argv[2] + '.ready', 'w').close()",
        'c, _ = s.accept(); data = b""; fds = []',
        'while True:',
        '    msg, got, _, _ = socket.recv_fds(c, 65536, 4); fds += got; data += msg',
        '    if not msg: break',
        '    try: json.loads(data); break',
        '    except ValueError: pass',
        "kind = os.readlink('/proc/self/fd/%d' % fds[0]) if fds else ''",
        "json.dump({'state': json.loads(data), 'nfds': len(fds), 'kind': kind}, open(sys.argv[2], 'w'))",
        'for fd in fds: os.close(fd)',
      ].join('\n'),
    );
    const { spawn } = await import('node:child_process');
    const listener = spawn('timeout', ['30', 'python3', join(dir, 'listener.py'), sock, out], { stdio: 'ignore' });
    try {
      await waitFor(() => existsSync(`${out}.ready`), 'the listener');
      await fn(sock);
      await waitFor(() => existsSync(out), 'the listener to get the state');
      return JSON.parse(readFileSync(out, 'utf8'));
    } finally {
      if (listener.exitCode === null) listener.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('hands the seccomp notify fd and the container state to linux.seccomp.listenerPath', async () => {
    let r: Awaited<ReturnType<typeof h.run>> | undefined;
    const got = await withListener(async (sock) => {
      r = await h.run((c) => {
        c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
        c.annotations = { 'org.example/team': 'infra' };
        c.linux!.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86_64'],
          listenerPath: sock,
          listenerMetadata: 'berth-test',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
        };
        c.process!.args = ['/bin/sh', '-c', 'mkdir /tmp/x 2>&1; echo status=$?; touch /tmp/y && echo touched'];
      });
    });
    assert.equal(r!.exitCode, 0, r!.stderr);
    assert.match(r!.stdout, /Function not implemented/, 'mkdir went to the listener, which let go of it');
    assert.match(r!.stdout, /touched/);
    assert.equal(got.nfds, 1);
    assert.equal(got.kind, 'anon_inode:seccomp notify');
    assert.deepEqual(got.state.fds, ['seccompFd']);
    assert.equal(got.state.metadata, 'berth-test');
    assert.equal(got.state.ociVersion, '0.2.0', 'the container process state version of the spec example and crun');
    assert.equal(got.state.state.id, r!.id);
    assert.equal(got.state.state.status, 'creating');
    assert.deepEqual(got.state.state.annotations, { 'org.example/team': 'infra' });
    assert.ok(Number.isInteger(got.state.pid) && got.state.pid > 1, `the host pid of the container, not ${got.state.pid}`);
    assert.equal(got.state.state.pid, got.state.pid);
  });

  it('hands a notify fd to listenerPath even when no rule is SCMP_ACT_NOTIFY (as crun), and the filter still applies', async () => {
    for (const cached of [false, true]) {
      let r: Awaited<ReturnType<typeof h.run>> | undefined;
      const got = await withListener(async (sock) => {
        r = await h.run((c) => {
          c.linux!.seccomp = {
            defaultAction: 'SCMP_ACT_ALLOW',
            listenerPath: sock,
            listenerMetadata: 'no-rules',
            syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
          };
          c.process!.args = ['/bin/sh', '-c', 'hostname other 2>&1; echo done'];
        });
      });
      assert.equal(r!.exitCode, 0, r!.stderr);
      assert.match(r!.stdout, /Permission denied[\s\S]*done/, `the filter's own rule, ${cached ? 'from the cache' : 'compiled'}`);
      assert.equal(got.nfds, 1);
      assert.equal(got.kind, 'anon_inode:seccomp notify');
      assert.equal(got.state.metadata, 'no-rules');
      assert.equal(got.state.state.id, r!.id);
    }
  });

  it('copies a directory\'s content into a tmpfs mounted over it (tmpcopyup), owners, modes and links kept', async () => {
    const { symlinkSync, chownSync, chmodSync, readdirSync } = await import('node:fs');
    const b = h.bundle((c) => {
      c.mounts!.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'tmpcopyup', 'size=1m', 'ro'] });
      c.process!.args = [
        '/bin/sh',
        '-c',
        'cat /data/sub/deep; stat -c "%u:%g %a %n" /data/conf /data/sub /data/sub/deep; readlink /data/escape; grep -c " /data .*tmpfs" /proc/self/mountinfo; touch /data/new 2>&1; echo write=$?',
      ];
    });
    const data = join(b.rootfsDir, 'data');
    mkdirSync(join(data, 'sub'), { recursive: true });
    writeFileSync(join(data, 'conf'), 'key=value\n');
    chownSync(join(data, 'conf'), 1000, 1001);
    chmodSync(join(data, 'conf'), 0o640);
    writeFileSync(join(data, 'sub/deep'), 'deep\n');
    chmodSync(join(data, 'sub'), 0o711);
    symlinkSync('/etc/shadow', join(data, 'escape')); // copied as a link, never followed
    const id = uniqueId();
    const { openSync, closeSync } = await import('node:fs');
    const outPath = join(mkdtempSync(join(tmpdir(), 'berth-test-copyup-')), 'out');
    const out = openSync(outPath, 'w');
    try {
      const r = await h.runtime.run(id, { bundleDir: b.bundleDir, stdio: { stdout: out, stderr: out } });
      assert.equal(r.exitCode, 0);
    } finally {
      closeSync(out);
    }
    const text = readFileSync(outPath, 'utf8');
    rmSync(join(outPath, '..'), { recursive: true, force: true });
    assert.match(text, /^deep$/m, 'file content copied');
    assert.match(text, /^1000:1001 640 \/data\/conf$/m);
    assert.match(text, /^0:0 711 \/data\/sub$/m);
    assert.match(text, /^0:0 644 \/data\/sub\/deep$/m);
    assert.match(text, /^\/etc\/shadow$/m);
    assert.match(text, /^1$/m, 'a tmpfs is mounted on /data');
    assert.match(text, /Read-only file system/, 'ro applies after the copy');
    assert.deepEqual(readdirSync(data).sort(), ['conf', 'escape', 'sub'], 'the image directory itself is unchanged');
  });

  /** The kernel says EINVAL to MOUNT_ATTR_IDMAP on a filesystem that cannot be id-mapped (tmpfs
   * before Linux 6.3, as /tmp in the cg2vm guest): that is a skip, saying so; any other error fails. */
  function skipIfNoIdmap(t: { skip(message: string): void }, err: unknown): boolean {
    const e = err as { op?: string; errnoName?: string };
    if (e?.op !== 'mount_setattr' || e.errnoName !== 'EINVAL') return false;
    t.skip(`this kernel cannot id-map a mount of ${tmpdir()} (mount_setattr: EINVAL)`);
    return true;
  }


  it('makes an id-mapped bind mount: files show the mapped owners, the host\'s stay as they were', async (t) => {
    const { chownSync, chmodSync, statSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-idmap-'));
    try {
      chmodSync(dir, 0o755); // seen as owned by 1234 in the mount: the container's root is "other"
      writeFileSync(join(dir, 'mine'), 'x');
      writeFileSync(join(dir, 'other'), 'y');
      chownSync(join(dir, 'other'), 5, 5);
      mkdirSync(join(dir, 'sub'));
      const r = await h.run((c) => {
        c.mounts!.push({
          destination: '/shared',
          type: 'bind',
          source: dir,
          options: ['rbind', 'idmap'],
          uidMappings: [{ containerID: 0, hostID: 1234, size: 1 }],
          gidMappings: [{ containerID: 0, hostID: 2345, size: 1 }],
        });
        c.process!.args = ['/bin/sh', '-c', 'stat -c "%u:%g %n" /shared/mine /shared/other /shared/sub; grep -c " /shared .*idmapped" /proc/self/mountinfo'];
      }).catch((err: unknown) => (skipIfNoIdmap(t, err) ? undefined : Promise.reject(err)));
      if (!r) return;
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^1234:2345 \/shared\/mine$/m, `on-disk 0 is seen as the mapped id (${r.stderr})`);
      assert.match(r.stdout, /^1234:2345 \/shared\/sub$/m);
      assert.match(r.stdout, /^65534:65534 \/shared\/other$/m, 'an id outside the map is the overflow id');
      assert.match(r.stdout, /^1$/m, 'mountinfo marks the mount idmapped');
      const st = statSync(join(dir, 'mine'));
      assert.deepEqual([st.uid, st.gid], [0, 0], 'the host\'s file keeps its owner');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps a bind mount with the container\'s own user namespace maps (idmap without maps): its root owns the host\'s root files', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-idmap-userns-'));
    try {
      writeFileSync(join(dir, 'owned-by-host-root'), 'x');
      const r = await h.run((c) => {
        inUserNamespace(c);
        // /home exists in the rootfs: the mapped root could not create a target there
        c.mounts!.push({ destination: '/home', type: 'bind', source: dir, options: ['rbind', 'idmap'] });
        c.process!.args = ['/bin/sh', '-c', 'stat -c "%u:%g" /home/owned-by-host-root; echo more >> /home/owned-by-host-root && echo wrote'];
      }).catch((err: unknown) => (skipIfNoIdmap(t, err) ? undefined : Promise.reject(err)));
      if (!r) return;
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, /^0:0$/m, 'host root\'s file is the container root\'s');
      assert.match(r.stdout, /^wrote$/m, 'and it can write it');
      assert.equal(readFileSync(join(dir, 'owned-by-host-root'), 'utf8'), 'xmore\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies process.ioPriority and process.scheduler', async () => {
    const r = await h.run((c) => {
      c.process!.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 7 };
      c.process!.scheduler = { policy: 'SCHED_BATCH', nice: 5 };
      c.process!.args = ['/bin/sh', '-c', 'ionice -p $$; cut -d" " -f19,41 /proc/self/stat'];
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^idle$/m);
    assert.match(r.stdout, /^5 3$/m, 'nice 5, policy 3 (SCHED_BATCH)');
  });

  it('refuses what it cannot apply (Intel RDT, AppArmor or SELinux labels on a host without them), creating nothing', async () => {
    const cases: [string, (c: RuntimeConfig) => void, RegExp][] = [
      ['intelRdt', (c) => (c.linux!.intelRdt = { closID: 'gold' }), /linux\.intelRdt: Intel RDT \(resctrl\) is not supported/],
      ['selinux', (c) => (c.process!.selinuxLabel = 'system_u:system_r:container_t:s0'), /process\.selinuxLabel is set but SELinux is not enabled on this host/],
      ['mountLabel', (c) => (c.linux!.mountLabel = 'system_u:object_r:container_file_t:s0'), /linux\.mountLabel is set but SELinux is not enabled on this host/],
    ];
    if (!existsSync('/sys/module/apparmor/parameters/enabled')) {
      cases.push(['apparmor', (c) => (c.process!.apparmorProfile = 'docker-default'), /process\.apparmorProfile is set but AppArmor is not enabled on this host/]);
    }
    for (const [what, mutate, message] of cases) {
      const b = h.bundle(mutate);
      const id = uniqueId();
      await assert.rejects(h.runtime.create(id, { bundleDir: b.bundleDir }), message, what);
      assert.equal(existsSync(join(h.rootDir, id)), false, `${what}: state left`);
      assert.equal(existsSync(`/sys/fs/cgroup/memory/berth/${id}`) || existsSync(`/sys/fs/cgroup/berth/${id}`), false, `${what}: cgroup left`);
    }
  });

  it('applies rlimits', async () => {
    const r = await h.run((c) => {
      c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 321, hard: 654 }];
      c.process!.args = ['/bin/sh', '-c', 'ulimit -n; ulimit -Hn'];
    });
    assert.deepEqual(r.stdout.trim().split('\n'), ['321', '654']);
  });

  it('writes sysctls before /proc/sys is made read-only (as runc; podman relies on it)', async () => {
    const r = await h.run((c) => {
      c.linux!.sysctl = { 'net.ipv4.ping_group_range': '0 0' };
      c.process!.args = ['/bin/cat', '/proc/sys/net/ipv4/ping_group_range'];
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^0\s+0$/m);
  });

  it('names the rlimit it cannot set', async () => {
    await assert.rejects(
      h.run((c) => {
        // far above fs.nr_open: refused even with CAP_SYS_RESOURCE
        c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2 ** 40 }];
      }),
      /setrlimit "RLIMIT_NOFILE"/,
    );
  });

  it('switches to the configured uid, gid and additional groups', async () => {
    const r = await h.run((c) => {
      c.process!.user = { uid: 1000, gid: 1001, additionalGids: [2000, 2001] };
      c.process!.args = ['/bin/id'];
    });
    assert.match(r.stdout, /uid=1000 gid=1001 groups=2000,2001/);
  });

  it('keeps the caller\'s supplementary groups with run.oci.keep_original_groups (crun, podman keep-groups), and only then', async () => {
    const cli = join(import.meta.dirname, '../../bin/berth-runtime');
    for (const keep of ['1', '0', undefined]) {
      const b = h.bundle((c) => {
        c.process!.args = ['/bin/sh', '-c', 'grep ^Groups: /proc/self/status'];
        if (keep !== undefined) c.annotations = { 'run.oci.keep_original_groups': keep };
      });
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync('setpriv', ['--groups', '41,42', '--', cli, '--root', h.rootDir, 'run', '--bundle', b.bundleDir, uniqueId()], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.replace(/\s+/g, ' ').trim(), keep === '1' ? 'Groups: 41 42' : 'Groups:', `annotation ${keep}`);
    }
    await assert.rejects(
      h.run((c) => {
        c.annotations = { 'run.oci.keep_original_groups': '1' };
        c.process!.user = { uid: 0, gid: 0, additionalGids: [5] };
      }),
      /additionalGids cannot be combined with the annotation run.oci.keep_original_groups/,
    );
  });

  it('maps ids in a user namespace', async () => {
    const r = await h.run((c) => {
      inUserNamespace(c);
      c.process!.args = ['/bin/sh', '-c', 'cat /proc/self/uid_map; id -u'];
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^\s*0\s+100000\s+65536$/m);
    assert.match(r.stdout, /^0$/m);
  });

  it('makes linux.devices in a user namespace from the host side (crun\'s way): a node the host lacks, with the config\'s owner and mode, usable', async () => {
    const r = await h.run((c) => {
      inUserNamespace(c);
      // /dev/berth-zero does not exist on the host: it cannot be bound from there
      c.linux!.devices = [{ path: '/dev/berth-zero', type: 'c', major: 1, minor: 5, fileMode: 0o640, uid: 10, gid: 11 }];
      // its owner (uid 10) may read it; others may not (mode 640)
      c.process!.user = { uid: 10, gid: 11 };
      c.process!.args = ['/bin/sh', '-c', 'stat -c "%u:%g %a %t:%T" /dev/berth-zero; head -c 5 /dev/berth-zero | wc -c'];
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, '10:11 640 1:5\n5\n');
    assert.equal(existsSync('/dev/berth-zero'), false, 'nothing made on the host');
    await assert.rejects(
      h.run((c) => {
        inUserNamespace(c);
        c.linux!.devices = [{ path: '/dev/berth-zero', type: 'c', major: 1, minor: 5, uid: 70000 }];
      }),
      /linux.devices\[0\].uid: 70000 is not mapped in the container's user namespace/,
    );
  });

  it('finds the program on PATH and runs it in cwd with the env', async () => {
    const r = await h.run((c) => {
      c.process!.cwd = '/etc';
      c.process!.env!.push('GREETING=hello from berth');
      c.process!.args = ['sh', '-c', 'pwd; echo $GREETING'];
    });
    assert.deepEqual(r.stdout.trim().split('\n'), ['/etc', 'hello from berth']);
  });

  it('bind-mounts a host directory at the destination', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-bind-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'hello.txt'), 'from the host\n');
    const r = await h.run((c) => {
      c.mounts!.push({ destination: '/data/in', type: 'bind', source: dir, options: ['rbind', 'ro'] });
      c.process!.args = ['/bin/sh', '-c', 'cat /data/in/hello.txt; touch /data/in/x 2>&1'];
    });
    assert.match(r.stdout, /from the host/);
    assert.match(r.stdout, /Read-only file system/);
  });
});
