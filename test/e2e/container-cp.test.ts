/**
 * `berth cp`: docker's path rules both ways, for a running and a stopped container, tar
 * streams, owners, and what a hostile container plants (symlinks out, `..` in a tar).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { berth, busyboxRoot, ok } from '../fixtures/berth-cli.ts';

const isRoot = process.getuid?.() === 0;

function tarList(data: Buffer | string): string[] {
  const r = spawnSync('tar', ['-tv', '--numeric-owner', '-f', '-'], { input: data, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

function berthRaw(root: string, args: string[], input?: Buffer): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(join(import.meta.dirname, '../../bin/berth'), ['--root', root, ...args], { input: input ?? '', maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

describe('berth cp', { skip: !isRoot && 'needs root' }, () => {
  let box: { root: string; remove(): void };
  let host: string;
  const cp = (...args: string[]) => berth(box.root, ['cp', ...args]);
  const exec = (c: string, script: string) => ok(berth(box.root, ['exec', c, 'sh', '-c', script]));

  before(() => {
    box = busyboxRoot('cp');
    host = mkdtempSync(join(tmpdir(), 'berth-cp-host-'));
    writeFileSync(join(host, 'file'), 'from host\n');
    mkdirSync(join(host, 'dir/sub'), { recursive: true });
    writeFileSync(join(host, 'dir/sub/inner'), 'inner\n');
    symlinkSync('/etc/passwd', join(host, 'dir/link'));
    chownSync(join(host, 'dir/sub/inner'), 1234, 5678);
    ok(berth(box.root, ['run', '-d', '--name', 'running', 'busybox', 'sleep', '600']));
    ok(berth(box.root, ['create', '--name', 'stopped', 'busybox', 'sleep', '600']));
    exec('running', 'mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && ln -s /data/a /data/alink && chown 42:43 /data/a');
    // a stopped container's changes live in its upper dir: give it some by copying in
    ok(cp(join(host, 'dir'), 'stopped:/data'));
  });

  after(() => {
    box.remove();
    rmSync(host, { recursive: true, force: true });
    // no mount of the root nor a cp-* dir is left
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(box.root), 'a mount of the state root is left');
  });

  for (const c of ['running', 'stopped']) {
    it(`copies a file out of a ${c} container, to a new name and into a directory`, () => {
      const out = mkdtempSync(join(host, 'out-'));
      ok(cp(`${c}:/etc/passwd`, join(out, 'pw')));
      assert.match(readFileSync(join(out, 'pw'), 'utf8'), /^root:x:0:0:/);
      ok(cp(`${c}:/etc/passwd`, out));
      assert.ok(existsSync(join(out, 'passwd')));
      writeFileSync(join(out, 'existing'), 'old');
      ok(cp(`${c}:/etc/group`, join(out, 'existing')));
      assert.match(readFileSync(join(out, 'existing'), 'utf8'), /^root:x:0:/);
      const r = cp(`${c}:/etc/passwd`, join(out, 'missing') + '/');
      assert.equal(r.status, 1);
    });

    it(`copies a directory out of a ${c} container (new name, into a dir, and /. contents)`, () => {
      const out = mkdtempSync(join(host, 'out-'));
      ok(cp(`${c}:/data`, join(out, 'copy')));
      assert.equal(readFileSync(join(out, 'copy/sub/' + (c === 'running' ? 'b' : 'inner')), 'utf8'), c === 'running' ? 'two\n' : 'inner\n');
      ok(cp(`${c}:/data`, out));
      assert.ok(lstatSync(join(out, 'data')).isDirectory());
      mkdirSync(join(out, 'contents'));
      ok(cp(`${c}:/data/.`, join(out, 'contents')));
      assert.ok(existsSync(join(out, 'contents/sub')));
      assert.ok(!existsSync(join(out, 'contents/data')));
    });

    it(`copies a file and a directory into a ${c} container`, () => {
      ok(cp(join(host, 'file'), `${c}:/tmp/renamed`));
      ok(cp(join(host, 'file'), `${c}:/tmp/`));
      ok(cp(join(host, 'dir'), `${c}:/tmp/newdir`));
      ok(cp(join(host, 'dir'), `${c}:/tmp/newdir`));
      ok(cp(join(host, 'dir') + '/.', `${c}:/tmp`));
      const list = cp(`${c}:/tmp`, '-');
      assert.equal(list.status, 0, list.stderr);
      const names = tarList(berthRaw(box.root, ['cp', `${c}:/tmp`, '-']).stdout).map((l) => l.split(/\s+/).slice(5).join(' '));
      for (const n of ['tmp/renamed', 'tmp/file', 'tmp/newdir/sub/inner', 'tmp/newdir/dir/sub/inner', 'tmp/sub/inner', 'tmp/link -> /etc/passwd']) {
        assert.ok(names.includes(n), `${n} missing in ${names.join(', ')}`);
      }
      // without -a the files belong to the container's root
      const owners = tarList(berthRaw(box.root, ['cp', `${c}:/tmp/newdir/sub/inner`, '-']).stdout)[0]!.split(/\s+/)[1];
      assert.equal(owners, '0/0');
    });

    it(`keeps owners with -a into a ${c} container and streams tars both ways`, () => {
      ok(cp('-a', join(host, 'dir'), `${c}:/tmp/archived`));
      assert.equal(tarList(berthRaw(box.root, ['cp', `${c}:/tmp/archived/sub/inner`, '-']).stdout)[0]!.split(/\s+/)[1], '1234/5678');
      const tar = spawnSync('tar', ['-c', '-C', host, 'file', 'dir'], { maxBuffer: 1 << 26 }).stdout;
      const r = berthRaw(box.root, ['cp', '-', `${c}:/home`], tar);
      assert.equal(r.status, 0, r.stderr);
      const lines = tarList(berthRaw(box.root, ['cp', `${c}:/home`, '-']).stdout).join('\n');
      assert.match(lines, /home\/file\n/);
      assert.match(lines, /home\/dir\/link -> \/etc\/passwd/);
      // a tar from stdin belongs to the container's root without -a, as docker has it
      const owned = tarList(berthRaw(box.root, ['cp', `${c}:/home/dir/sub/inner`, '-']).stdout)[0]!.split(/\s+/)[1];
      assert.equal(owned, '0/0');
      const kept = berthRaw(box.root, ['cp', '-a', '-', `${c}:/home`], tar);
      assert.equal(kept.status, 0, kept.stderr);
      assert.equal(tarList(berthRaw(box.root, ['cp', `${c}:/home/dir/sub/inner`, '-']).stdout)[0]!.split(/\s+/)[1], '1234/5678');
    });
  }

  it('sees a stopped container as it ran: its volumes and its /etc files, both ways', () => {
    ok(berth(box.root, ['run', '--name', 'ended', '--hostname', 'ended-host', '-v', 'cpvol:/vol', 'busybox', 'sh', '-c', 'echo in-volume > /vol/v']));
    try {
      const out = mkdtempSync(join(host, 'ended-'));
      ok(cp('ended:/vol/v', join(out, 'v')));
      assert.equal(readFileSync(join(out, 'v'), 'utf8'), 'in-volume\n');
      ok(cp('ended:/etc/hostname', join(out, 'h')));
      assert.equal(readFileSync(join(out, 'h'), 'utf8'), 'ended-host\n');
      // a host file named like a whiteout is a file: it deletes nothing
      writeFileSync(join(out, '.wh.v'), 'not a whiteout\n');
      ok(cp(join(out, '.wh.v'), 'ended:/vol/'));
      assert.equal(ok(berth(box.root, ['run', '--rm', '-v', 'cpvol:/vol', 'busybox', 'cat', '/vol/v', '/vol/.wh.v'])), 'in-volume\nnot a whiteout\n');
      // into the volume of the stopped container: the next container sees it
      ok(cp(join(out, 'h'), 'ended:/vol/from-host'));
      assert.equal(ok(berth(box.root, ['run', '--rm', '-v', 'cpvol:/vol', 'busybox', 'cat', '/vol/from-host'])), 'ended-host\n');
    } finally {
      ok(berth(box.root, ['rm', 'ended']));
      ok(berth(box.root, ['volume', 'rm', 'cpvol']));
    }
    // (the running container of the suite has its limits view mounted: not cp's)
    assert.deepEqual(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(box.root) && !l.includes(' - fuse.berth-view ')), []);
  });

  it('copies a running container\'s root with /proc and /sys as the empty dirs they are in the image, not the kernel\'s files', () => {
    const r = spawnSync(join(import.meta.dirname, '../../bin/berth'), ['--root', box.root, 'cp', 'running:/', '-'], { maxBuffer: 1 << 28 });
    assert.equal(r.status, 0, r.stderr.toString());
    const names = spawnSync('tar', ['-t'], { input: r.stdout, encoding: 'utf8', maxBuffer: 1 << 26 }).stdout.split('\n');
    assert.ok(names.includes('./proc/') && names.includes('./etc/passwd') && names.includes('./data/sub/b'), 'the root, its files and the container\'s own');
    assert.deepEqual(names.filter((n) => /^\.\/(proc|sys)\/./.test(n)), [], 'nothing of procfs or sysfs');
    const proc = spawnSync(join(import.meta.dirname, '../../bin/berth'), ['--root', box.root, 'cp', 'running:/proc/.', '-'], { maxBuffer: 1 << 26 });
    assert.deepEqual(spawnSync('tar', ['-t'], { input: proc.stdout, encoding: 'utf8' }).stdout, './\n');
  });

  it('copies symlinks as symlinks, and follows SRC only with -L', () => {
    const out = mkdtempSync(join(host, 'out-'));
    ok(cp('running:/data/alink', join(out, 'l')));
    assert.equal(readlinkSync(join(out, 'l')), '/data/a');
    ok(cp('-L', 'running:/data/alink', join(out, 'f')));
    assert.equal(readFileSync(join(out, 'f'), 'utf8'), 'one\n');
    ok(cp('running:/data', join(out, 'd')));
    assert.ok(lstatSync(join(out, 'd/alink')).isSymbolicLink());
  });

  it('gives the caller the files it copies out, unless -a', () => {
    const out = mkdtempSync(join(host, 'out-'));
    ok(cp('running:/data/a', join(out, 'plain')));
    assert.equal(lstatSync(join(out, 'plain')).uid, 0);
    ok(cp('-a', 'running:/data/a', join(out, 'kept')));
    assert.equal(lstatSync(join(out, 'kept')).uid, 42);
    assert.equal(lstatSync(join(out, 'kept')).gid, 43);
  });

  for (const c of ['running', 'stopped']) {
    it(`never leaves a ${c} container's root through a planted symlink`, () => {
      if (c === 'running') exec(c, 'ln -sfn / /escape && echo container-secret > /etc/berth-cp-marker');
      else ok(cp(join(host, 'file'), `${c}:/etc/berth-cp-marker`));
      const escape = mkdtempSync(join(host, 'esc-'));
      symlinkSync('/', join(escape, 'escape'));
      if (c === 'stopped') ok(cp(join(escape, 'escape'), `${c}:/`));
      const out = mkdtempSync(join(host, 'out-'));
      // the host has no such file: only the container's can be copied
      assert.ok(!existsSync('/etc/berth-cp-marker'));
      const r = cp(`${c}:/escape/etc/berth-cp-marker`, join(out, 'm'));
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(join(out, 'm')));
      // writes through the symlink land inside the container
      const hostTarget = `/tmp/berth-cp-escape-${process.pid}-${c}`;
      ok(cp(join(host, 'file'), `${c}:/escape${hostTarget}`));
      assert.ok(!existsSync(hostTarget), 'the copy went to the host');
      assert.equal(tarList(berthRaw(box.root, ['cp', `${c}:${hostTarget}`, '-']).stdout).length, 1);
      // a symlink as the last component of a directory destination too
      ok(cp(join(host, 'dir'), `${c}:/escape${hostTarget}-dir`));
      assert.ok(!existsSync(`${hostTarget}-dir`), 'the copy went to the host');
      ok(cp(`${c}:/escape${hostTarget}-dir/sub/inner`, join(out, 'inner')));
    });
  }

  it('writes nothing outside the destination from a tar with .. and absolute names', () => {
    const evil = mkdtempSync(join(host, 'evil-'));
    const marker = `berth-cp-dotdot-${process.pid}`;
    writeFileSync(join(evil, 'x'), 'evil\n');
    const r0 = spawnSync('tar', ['-c', '-P', '-C', evil, '--transform', `s,^x,../../../../../../../tmp/${marker},`, 'x'], { maxBuffer: 1 << 20 });
    assert.equal(r0.status, 0, r0.stderr.toString());
    assert.match(tarList(r0.stdout)[0]!, /\.\.\//);
    const r = berthRaw(box.root, ['cp', '-', 'running:/tmp'], r0.stdout);
    assert.notEqual(r.status, 0);
    assert.ok(!existsSync(`/tmp/${marker}`), 'the tar wrote on the host');
    assert.ok(!readdirSync('/tmp').includes(marker));
  });

  it("says docker's words for a missing container, a missing path and bad arguments", () => {
    let r = cp('nosuch:/etc/passwd', host);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'Error response from daemon: No such container: nosuch\n');
    r = cp('running:/no/such/file', host);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'Error response from daemon: Could not find the file /no/such/file in container running\n');
    r = cp(join(host, 'file'), 'stopped:/no/such/dir/x');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Could not find the file/);
    r = cp(join(host, 'file'), join(host, 'other'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /must specify at least one container source/);
    r = cp('running:/etc/passwd', 'stopped:/tmp');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /copying between containers is not supported/);
  });

  it('also answers as `container cp`, and leaves no cp-* directory behind', () => {
    const out = mkdtempSync(join(host, 'out-'));
    ok(berth(box.root, ['container', 'cp', 'stopped:/etc/passwd', out]));
    assert.ok(existsSync(join(out, 'passwd')));
    const tmp = join(box.root, 'tmp');
    assert.deepEqual(existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('cp-')) : [], []);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(join(box.root, 'tmp')));
  });
});
