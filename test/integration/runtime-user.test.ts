/**
 * A user named as docker names one (`--user app`, `--user 1000:audio`, `--group-add`), looked up
 * by the init in the container's own /etc/passwd and /etc/group (io.berth.user), never on the
 * host: runc's GetExecUser rules, and the image's files treated as hostile.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harness, skipUnlessRoot } from './helpers.ts';
import { uniqueId, type TestBundle } from '../fixtures/bundle.ts';
import { USER_ANNOTATION } from '../../src/runtime/compile-process.ts';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n# a comment\nbroken line\nsvc:x:1001:1001::/srv:/bin/false\n';
const GROUP = 'root:x:0:\naudio:x:29:app,svc\nvideo:x:44:svc\napp:x:1000:\nstaff:x:50:\n';
const SHOW = 'grep -E "^(Uid|Gid|Groups):" /proc/self/status | tr -s "\\t " " "; echo "HOME=$HOME"';

describe('berth-runtime: users named in the container', { skip: skipUnlessRoot }, () => {
  const h = harness();
  const dirs: string[] = [];
  after(async () => {
    await h.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function bundle(user: string, groups: string[] = [], script = SHOW, files = true): TestBundle {
    const b = h.bundle((c) => {
      c.process!.args = ['/bin/sh', '-c', script];
      c.process!.env = ['PATH=/bin'];
      c.annotations = { [USER_ANNOTATION]: JSON.stringify({ user, groups }) };
    });
    if (files) {
      writeFileSync(join(b.rootfsDir, 'etc/passwd'), PASSWD);
      writeFileSync(join(b.rootfsDir, 'etc/group'), GROUP);
    }
    return b;
  }

  async function run(b: TestBundle) {
    const out = mkdtempSync(join(tmpdir(), 'berth-test-user-'));
    dirs.push(out);
    const stdout = openSync(join(out, 'o'), 'w');
    const stderr = openSync(join(out, 'e'), 'w');
    try {
      const r = await h.runtime.run(uniqueId(), { bundleDir: b.bundleDir, stdio: { stdin: 'ignore', stdout, stderr } });
      return { exitCode: r.exitCode, stdout: readFileSync(join(out, 'o'), 'utf8'), stderr: readFileSync(join(out, 'e'), 'utf8') };
    } finally {
      closeSync(stdout);
      closeSync(stderr);
    }
  }

  const expect = (uid: number, gid: number, groups: number[], home: string) =>
    `Uid: ${uid} ${uid} ${uid} ${uid}\nGid: ${gid} ${gid} ${gid} ${gid}\nGroups: ${groups.join(' ')}${groups.length ? ' ' : ''}\nHOME=${home}\n`;

  it('a name: its uid, primary group, the groups that list it and its home', async () => {
    const r = await run(bundle('app'));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(1000, 1000, [29], '/home/app'));
  });

  it('name:group takes the group by name and adds no membership groups; --group-add adds by name or number', async () => {
    let r = await run(bundle('svc:staff'));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(1001, 50, [], '/srv'));
    r = await run(bundle('svc', ['staff', '4242']));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(1001, 1001, [29, 44, 50, 4242], '/srv'));
  });

  it('a number not in /etc/passwd runs as that uid with gid 0 and HOME=/; uid:gid as given', async () => {
    let r = await run(bundle('4321'));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(4321, 0, [], '/'));
    r = await run(bundle('1000:7'));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(1000, 7, [], '/home/app'));
  });

  it('an unknown name or group fails before the program runs, naming it', async () => {
    await assert.rejects(run(bundle('nosuch', [], 'echo ran')), /unable to find user nosuch: no matching entries in passwd file/);
    await assert.rejects(run(bundle('app:nogroup-here', [], 'echo ran')), /unable to find group nogroup-here: no matching entries in group file/);
    await assert.rejects(run(bundle('app', ['wheel'], 'echo ran')), /unable to find group wheel/);
    assert.deepEqual(await h.runtime.ctx.store.list(), [], 'no container left behind');
  });

  it('reads the container\'s files, not the host\'s: an absolute symlink stays inside, a FIFO is not waited on', async () => {
    // /etc/passwd -> /host-passwd resolves in the container's root (a file the test put there)
    let b = bundle('guest', [], SHOW, false);
    writeFileSync(join(b.rootfsDir, 'host-passwd'), 'guest:x:2000:2000::/guest:/bin/sh\n');
    unlinkSync(join(b.rootfsDir, 'etc/passwd'));
    symlinkSync('/host-passwd', join(b.rootfsDir, 'etc/passwd'));
    let r = await run(b);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(2000, 2000, [], '/guest'));
    // a FIFO where /etc/passwd should be: numbers still work, names are not found
    b = bundle('5000', [], SHOW, false);
    unlinkSync(join(b.rootfsDir, 'etc/passwd'));
    execFileSync('mkfifo', [join(b.rootfsDir, 'etc/passwd')]);
    r = await run(b);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(5000, 0, [], '/'));
  });

  it('refuses a user database larger than 4 MiB, naming it, and never opens a device node put there', async () => {
    let b = bundle('app', [], 'echo ran');
    writeFileSync(join(b.rootfsDir, 'etc/passwd'), PASSWD + '#'.repeat(5 << 20) + '\n');
    await assert.rejects(run(b), /\/etc\/passwd.*the user database is larger than 4 MiB/);
    // /etc/group a character device (a tty would block or change state when opened): not opened, no groups
    b = bundle('app', [], SHOW);
    unlinkSync(join(b.rootfsDir, 'etc/group'));
    execFileSync('mknod', [join(b.rootfsDir, 'etc/group'), 'c', '5', '0']);
    const r = await run(b);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, expect(1000, 1000, [], '/home/app'));
  });

  it('refuses malformed specs and ids above 2^31-1 before creating anything', async () => {
    for (const [user, groups] of [['a:b:c', []], ['', []], ['4294967295', []], ['app:4294967295', []], ['app', ['x\ny']], ['app', ['']]] as const) {
      const b = bundle(user, [...groups]);
      await assert.rejects(run(b), (e: Error) => /invalid (user|group)/.test(e.message), `${JSON.stringify(user)} ${JSON.stringify(groups)}`);
    }
    const b = bundle('app');
    b.config.annotations = { [USER_ANNOTATION]: '{"user": 7}' };
    b.save();
    await assert.rejects(run(b), /io\.berth\.user/);
  });

  it('exec resolves a named user in the running container', async () => {
    const b = h.bundle((c) => {
      c.process!.args = ['/bin/sleep', '60'];
      c.process!.env = ['PATH=/bin'];
    });
    writeFileSync(join(b.rootfsDir, 'etc/passwd'), PASSWD);
    writeFileSync(join(b.rootfsDir, 'etc/group'), GROUP);
    const id = uniqueId();
    await h.runtime.create(id, { bundleDir: b.bundleDir, stdio: { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' } });
    await h.runtime.start(id);
    const out = mkdtempSync(join(tmpdir(), 'berth-test-user-'));
    dirs.push(out);
    const fd = openSync(join(out, 'o'), 'w');
    try {
      const r = await h.runtime.exec(id, { process: { args: ['/bin/sh', '-c', SHOW] }, userSpec: { user: 'app', groups: ['video'] }, stdio: { stdin: 'ignore', stdout: fd, stderr: 'ignore' } });
      assert.equal(r.exitCode, 0);
    } finally {
      closeSync(fd);
    }
    assert.equal(readFileSync(join(out, 'o'), 'utf8'), expect(1000, 1000, [29, 44], '/home/app'));
    await h.runtime.delete(id, { force: true });
  });
});
