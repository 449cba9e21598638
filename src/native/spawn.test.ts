import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memfdWith, posixSpawn, socketPair } from './spawn.ts';

const sh = (script: string, fds: number[]) => posixSpawn('/bin/sh', ['sh', '-c', script], { fds });

describe('posixSpawn', () => {
  it('passes the exit status and the killing signal through', async () => {
    const devNull = openSync('/dev/null', 'r+');
    try {
      assert.deepEqual(await sh('exit 7', [devNull, devNull, devNull]).exited, { code: 7, signal: null });
      const sleeper = sh('exec sleep 30', [devNull, devNull, devNull]);
      sleeper.kill('SIGKILL');
      assert.deepEqual(await sleeper.exited, { code: null, signal: 'SIGKILL' });
      assert.equal(sleeper.hasExited(), true);
      sleeper.kill('SIGTERM'); // reaped: a no-op, never a signal to a reused pid
    } finally {
      closeSync(devNull);
    }
  });

  it('reaps many children that end at once (SIGCHLD coalesces)', async () => {
    const devNull = openSync('/dev/null', 'r+');
    try {
      const children = Array.from({ length: 12 }, (_, i) => sh(`exit ${i}`, [devNull, devNull, devNull]));
      const codes = (await Promise.all(children.map((c) => c.exited))).map((e) => e.code);
      assert.deepEqual(codes, children.map((_, i) => i));
    } finally {
      closeSync(devNull);
    }
  });

  it('maps fds even when a source is another target, and lets no other fd through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
    try {
      const a = openSync(join(dir, 'a'), 'w');
      const b = openSync(join(dir, 'b'), 'w');
      const secret = openSync(join(dir, 'secret'), 'w'); // close-on-exec, as every fd Node opens
      // child fd 1 ← b, fd 2 ← a, fd 3 ← a: crossing maps that a naive dup2 order would clobber
      const child = sh(`echo out; echo err >&2; echo three >&3; for f in /proc/self/fd/*; do readlink $f; done | grep -c secret`, [0, b, a, a]);
      assert.deepEqual(await child.exited, { code: 1, signal: null });
      for (const fd of [a, b, secret]) closeSync(fd);
      assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'err\nthree\n');
      // the child saw no fd of `secret` (grep -c prints 0 and exits 1)
      assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'out\n0\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a child fd that is not a descriptor, naming it', () => {
    assert.throws(() => posixSpawn('/bin/true', ['true'], { fds: [0, 1, Number.NaN] }), /fd 2 of the child must be an open file descriptor/);
  });

  it('fails with the errno when the program is missing', () => {
    assert.throws(() => posixSpawn('/nonexistent/berth-x', ['x'], { fds: [0, 1, 2] }), /posix_spawn "\/nonexistent\/berth-x": .*ENOENT/);
  });
});

describe('memfdWith and socketPair', () => {
  it('a sealed memfd cannot be written, even by its maker, and runs as a program', async () => {
    const fd = memfdWith('berth-test', readFileSync('/bin/true'), { sealed: true });
    try {
      assert.throws(() => writeSync(fd, Buffer.from('x'), 0, 1, 0), /EPERM/);
      assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^\/memfd:berth-test/);
      assert.deepEqual(await posixSpawn(`/proc/self/fd/${fd}`, ['true'], { fds: [0, 1, 2] }).exited, { code: 0, signal: null });
    } finally {
      closeSync(fd);
    }
  });

  it('runs a memfd program whose fd lies just above the fds it maps (the temporaries never cover it)', async () => {
    const program = memfdWith('berth-test', readFileSync('/bin/true'), { sealed: true });
    try {
      // the memfd got the lowest free number: every fd below it is open. Mapping the one right
      // below puts the first temporary copy at the program's own number.
      const fds = [0, 1, program - 1];
      assert.deepEqual(await posixSpawn(`/proc/self/fd/${program}`, ['true'], { fds }).exited, { code: 0, signal: null });
    } finally {
      closeSync(program);
    }
  });

  it('a plain memfd is read from its start by whoever inherits it', async () => {
    const fd = memfdWith('berth-plan-test', Buffer.from('hello plan'));
    const [mine, theirs] = socketPair();
    try {
      const child = sh('cat <&3 >&4', [0, 1, 2, fd, theirs]);
      closeSync(theirs);
      assert.deepEqual(await child.exited, { code: 0, signal: null });
      const buf = Buffer.alloc(64);
      const n = (await import('node:fs')).readSync(mine, buf);
      assert.equal(buf.subarray(0, n).toString(), 'hello plan');
    } finally {
      closeSync(fd);
      closeSync(mine);
    }
  });
});
