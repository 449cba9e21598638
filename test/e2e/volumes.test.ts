/**
 * Volumes end to end, as root, through the CLI: named volumes outlive containers and are shared,
 * copy-up from the image (and volume-nocopy), anonymous volumes (-v /path, the image's VOLUME)
 * removed by rm -v and --rm, --volumes-from, a volume in use refuses rm, --opt type=tmpfs,
 * inspect's Mounts, system df, hostile images, and bad input.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, busyboxRoot, ok } from '../fixtures/berth-cli.ts';

const skip = process.getuid?.() === 0 ? false : 'the volume e2e tests need root';

describe('berth volumes', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let work = '';
  before(() => {
    box = busyboxRoot('volumes');
    root = box.root;
    // an image with VOLUMEs: /data with a seed file, and /evil/etc where /evil is a symlink to /
    work = mkdtempSync(join(tmpdir(), 'berth-test-volumes-work-'));
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'data', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    for (const tool of ['sh', 'cat', 'true']) symlinkSync('busybox', join(rootfs, 'bin', tool));
    writeFileSync(join(rootfs, 'data/seed'), 'seed\n');
    writeFileSync(join(rootfs, 'etc/marker'), 'image-etc\n');
    symlinkSync('/', join(rootfs, 'evil'));
    execFileSync('tar', ['-cf', join(work, 'img.tar'), '-C', rootfs, '.']);
    ok(berth(root, ['import', '--change', 'VOLUME ["/data", "/evil/etc"]', join(work, 'img.tar'), 'volimg:1']));
  });
  after(() => {
    box?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const volumes = () => ok(berth(root, ['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
  const noMountLeft = () => assert.deepEqual(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root)), [], 'no mount of the root is left');

  it('a named volume outlives its container and is seen by the next one; inspect shows it', () => {
    assert.equal(ok(berth(root, ['volume', 'create', '--label', 'app=web', 'data'])), 'data\n');
    assert.equal(ok(berth(root, ['volume', 'create', 'data'])), 'data\n', 'creating it again returns it');
    ok(berth(root, ['run', '--rm', '-v', 'data:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f']));
    assert.equal(ok(berth(root, ['run', '--rm', '-v', 'data:/data:ro', 'busybox', 'cat', '/data/f'])), 'kept\n');
    const ro = berth(root, ['run', '--rm', '-v', 'data:/data:ro', 'busybox', 'touch', '/data/x']);
    assert.notEqual(ro.status, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const info = JSON.parse(ok(berth(root, ['volume', 'inspect', 'data']))) as [{ Name: string; Driver: string; Mountpoint: string; Labels: Record<string, string>; Scope: string }];
    assert.deepEqual([info[0].Name, info[0].Driver, info[0].Labels, info[0].Scope], ['data', 'local', { app: 'web' }, 'local']);
    assert.equal(readFileSync(join(info[0].Mountpoint, 'f'), 'utf8'), 'kept\n');
    assert.deepEqual(ok(berth(root, ['volume', 'ls', '--filter', 'label=app=web', '--format', '{{.Name}} {{.Driver}}'])), 'data local\n');
    // --mount type=volume, and inspect's Mounts of a container
    ok(berth(root, ['create', '--name', 'holder', '--mount', 'type=volume,src=data,dst=/srv,readonly', 'busybox', 'true']));
    const mounts = JSON.parse(ok(berth(root, ['inspect', '-f', '{{json .Mounts}}', 'holder']))) as { Type: string; Name: string; Destination: string; RW: boolean }[];
    assert.deepEqual(mounts.map((m) => [m.Type, m.Name, m.Destination, m.RW]), [['volume', 'data', '/srv', false]]);
    // in use by a container (even a stopped one): not removed
    const busy = berth(root, ['volume', 'rm', 'data']);
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /remove data: volume is in use/);
    assert.match(ok(berth(root, ['system', 'df'])), /Local Volumes\s+1\s+1/);
    ok(berth(root, ['rm', 'holder']));
    ok(berth(root, ['volume', 'rm', 'data']));
    assert.deepEqual(volumes(), []);
  });

  it('fills a new volume from the image (copy-up), but not with volume-nocopy, and never an old one', () => {
    assert.equal(ok(berth(root, ['run', '--rm', '-v', 'etc-copy:/etc', 'busybox', 'cat', '/etc/passwd'])).split('\n')[0], 'root:x:0:0:root:/root:/bin/sh');
    const ls = ok(berth(root, ['run', '--rm', '--mount', 'type=volume,src=etc-nocopy,dst=/etc,volume-nocopy', 'busybox', 'ls', '/etc'])).split('\n').filter(Boolean);
    assert.ok(!ls.includes('passwd'), ls.join(' '));
    // a volume with content is never filled again
    ok(berth(root, ['run', '--rm', '-v', 'etc-copy:/etc', 'busybox', 'rm', '/etc/group']));
    assert.equal(berth(root, ['run', '--rm', '-v', 'etc-copy:/etc', 'busybox', 'test', '-e', '/etc/group']).status, 1);
    ok(berth(root, ['volume', 'rm', 'etc-copy', 'etc-nocopy']));
  });

  it('anonymous volumes: -v /path and the image\'s VOLUME get one each; rm -v and --rm remove them, rm alone keeps them', () => {
    ok(berth(root, ['run', '--name', 'anon', '-v', '/scratch', 'busybox', 'sh', '-c', 'echo x > /scratch/f']));
    assert.equal(volumes().length, 1);
    assert.match(volumes()[0]!, /^[0-9a-f]{64}$/);
    ok(berth(root, ['rm', '-v', 'anon']));
    assert.deepEqual(volumes(), []);
    ok(berth(root, ['run', '--name', 'anon2', '-v', '/scratch', 'busybox', 'true']));
    ok(berth(root, ['rm', 'anon2']));
    assert.equal(volumes().length, 1, 'rm without -v keeps it');
    assert.match(ok(berth(root, ['volume', 'ls', '--filter', 'dangling=true', '-q'])), /^[0-9a-f]{64}\n$/);
    ok(berth(root, ['volume', 'prune', '-f']));
    assert.deepEqual(volumes(), []);
    ok(berth(root, ['run', '--rm', '-v', '/scratch', 'busybox', 'true']));
    assert.deepEqual(volumes(), [], '--rm removes its anonymous volumes');
    // the image's VOLUME: an anonymous volume, filled from the image
    assert.equal(ok(berth(root, ['run', '--name', 'withvol', 'volimg:1', 'cat', '/data/seed'])), 'seed\n');
    assert.equal(volumes().length, 2, 'one for /data, one for /evil/etc');
    ok(berth(root, ['rm', '-v', 'withvol']));
    assert.deepEqual(volumes(), []);
  });

  it('--volumes-from mounts another container\'s volumes (read-only with :ro)', () => {
    ok(berth(root, ['run', '-d', '--name', 'source', '-v', 'shared:/shared', '-v', '/anon', 'busybox', 'sh', '-c', 'echo from-source > /shared/f; echo a > /anon/a; sleep 600']));
    try {
      assert.equal(ok(berth(root, ['run', '--rm', '--volumes-from', 'source', 'busybox', 'sh', '-c', 'sleep 0.3; cat /shared/f /anon/a'])), 'from-source\na\n');
      const ro = berth(root, ['run', '--rm', '--volumes-from', 'source:ro', 'busybox', 'touch', '/shared/g']);
      assert.notEqual(ro.status, 0);
      // a volume a running container uses is not removed, not even with -f
      const forced = berth(root, ['volume', 'rm', '-f', 'shared']);
      assert.equal(forced.status, 1);
      assert.match(forced.stderr, /in use by running container source/);
    } finally {
      ok(berth(root, ['rm', '-f', '-v', 'source']));
    }
    assert.deepEqual(volumes(), ['shared'], 'rm -v removes the anonymous volume only');
    ok(berth(root, ['volume', 'rm', 'shared']));
  });

  it('--opt type=tmpfs mounts a tmpfs for its containers, shared while they run, gone after', () => {
    ok(berth(root, ['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=2m', 'ram']));
    const mounts = ok(berth(root, ['run', '--rm', '-v', 'ram:/ram', 'busybox', 'grep', ' /ram ', '/proc/mounts']));
    assert.match(mounts, /^tmpfs \/ram tmpfs .*size=2048k/);
    noMountLeft();
    ok(berth(root, ['volume', 'rm', 'ram']));
  });

  it('copy-up never leaves the image: a VOLUME through a symlink to / is filled from the image\'s own /etc', () => {
    ok(berth(root, ['create', '--name', 'hostile', 'volimg:1', 'true']));
    try {
      const mounts = JSON.parse(ok(berth(root, ['inspect', '-f', '{{json .Mounts}}', 'hostile']))) as { Source: string; Destination: string }[];
      const evil = mounts.find((m) => m.Destination === '/evil/etc')!;
      assert.ok(evil, JSON.stringify(mounts));
      assert.deepEqual(readdirSync(evil.Source).sort(), ['marker'], 'the image\'s /etc, not the host\'s');
      assert.equal(readFileSync(join(evil.Source, 'marker'), 'utf8'), 'image-etc\n');
    } finally {
      ok(berth(root, ['rm', '-v', 'hostile']));
    }
    assert.deepEqual(volumes(), []);
  });

  it('a read-only bind is read-only all the way down: a mount under its source cannot be written either', () => {
    const host = join(work, 'ro-bind');
    mkdirSync(join(host, 'sub'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'berth-test-tmpfs', join(host, 'sub')]);
    try {
      const r = berth(root, ['run', '--rm', '-v', `${host}:/data:ro`, 'busybox', 'sh', '-c', 'touch /data/sub/x 2>&1; touch /data/y 2>&1; grep " /data/sub " /proc/mounts']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /touch: \/data\/sub\/x: Read-only file system/);
      assert.match(r.stdout, /touch: \/data\/y: Read-only file system/);
      assert.match(r.stdout, / \/data\/sub tmpfs ro[,\s]/);
      ok(berth(root, ['create', '--name', 'robind', '-v', `${host}:/data:ro`, 'busybox', 'true']));
      const mounts = JSON.parse(ok(berth(root, ['inspect', '-f', '{{json .Mounts}}', 'robind']))) as { RW: boolean; ReadOnlyRecursive?: boolean }[];
      assert.deepEqual(mounts.map((m) => [m.RW, m.ReadOnlyRecursive]), [[false, true]]);
      ok(berth(root, ['rm', 'robind']));
    } finally {
      execFileSync('umount', [join(host, 'sub')]);
    }
  });

  it('a user-namespaced container owns its new volumes: the copied image files are its root\'s', () => {
    const r = berth(root, ['run', '--rm', '--userns', 'auto', '-v', 'uvol:/etc', '-v', '/scratch', 'busybox', 'sh', '-c', 'stat -c %u /etc/passwd /scratch; touch /etc/new /scratch/new && echo wrote']);
    if (r.status !== 0 && /cannot id-map|id-mapped/.test(r.stderr)) return; // a kernel that cannot id-map the storage (said by berth)
    assert.equal(r.stdout, '0\n0\nwrote\n', r.stderr);
    const info = JSON.parse(ok(berth(root, ['volume', 'inspect', 'uvol']))) as [{ Mountpoint: string }];
    const hostUid = statSync(join(info[0].Mountpoint, 'passwd')).uid;
    assert.ok(hostUid >= 1_000_000, `the host sees the container's own id, not root: ${hostUid}`);
    ok(berth(root, ['volume', 'rm', 'uvol']));
    ok(berth(root, ['volume', 'prune', '-f']));
  });

  it('refuses bad input with a clear message, and creates nothing', () => {
    const cases: [string[], RegExp, number][] = [
      [['volume', 'rm', 'nope'], /no such volume/, 1],
      [['volume', 'inspect', 'nope'], /No such volume: nope/, 1],
      [['volume', 'create', 'a/b'], /includes invalid characters for a local volume name/, 125],
      [['volume', 'create', '--driver', 'nfs-plugin', 'x1'], /plugin "nfs-plugin" not found/, 1],
      [['volume', 'create', '--opt', 'bogus=1', 'x2'], /invalid option key: "bogus"/, 125],
      [['run', '--rm', '--mount', 'type=volume,dst=/d,volume-opt=bad', 'busybox', 'true'], /volume-opt wants KEY=VALUE/, 125],
      [['run', '--rm', '-v', 'bad name:/d', 'busybox', 'true'], /invalid characters/, 125],
      [['run', '--rm', '--volumes-from', 'no-such-container', 'busybox', 'true'], /No such container/, 125],
      [['run', '--rm', '-v', 'vx:/d', '-v', 'vy:/d', 'busybox', 'true'], /Duplicate mount point: \/d/, 125],
    ];
    for (const [args, message, code] of cases) {
      const r = berth(root, args);
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.deepEqual(volumes(), []);
    assert.equal(ok(berth(root, ['ps', '-aq'])), '');
    noMountLeft();
  });
});

