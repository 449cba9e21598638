/**
 * A real caller drives berth-runtime: containerd 1.6 with its runc shim (containerd-shim-runc-v2
 * and `ctr --runc-binary bin/berth-runtime`): run, exec, pause, resume, kill and delete a task.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnlessRoot, waitFor } from './helpers.ts';

const repoDir = join(import.meta.dirname, '../..');
const skip = skipUnlessRoot || (existsSync('/usr/bin/containerd') ? false : 'containerd is not installed (./setup.sh installs it)');

describe('containerd driving berth-runtime', { skip }, () => {
  let dir = '';
  let daemon: ChildProcess | undefined;
  let hadRunContainerd = true;
  // a namespace of the test's own: task cgroups are /berth-test/<id>, removed with the last task
  const ctr = (...args: string[]) => spawnSync('ctr', ['--address', join(dir, 'containerd.sock'), '--namespace', 'berth-test', ...args], { encoding: 'utf8', timeout: 60_000 });
  const ids = ['berth-t1', 'berth-t2'];
  const runtime = ['--runc-binary', join(repoDir, 'bin/berth-runtime')];

  before(async () => {
    hadRunContainerd = existsSync('/run/containerd');
    dir = mkdtempSync('/var/tmp/berth-test-containerd-');
    writeFileSync(
      join(dir, 'config.toml'),
      [
        'version = 2',
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        '[grpc]',
        `  address = "${dir}/containerd.sock"`,
        '[ttrpc]',
        `  address = "${dir}/containerd-ttrpc.sock"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        '  disable = true',
      ].join('\n'),
    );
    daemon = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: 'ignore' });
    await waitFor(() => existsSync(join(dir, 'containerd.sock')), 'containerd to listen');
    const archive = join(dir, 'busybox.tar');
    const tar = join(dir, 'rootfs.tar');
    const made = spawnSync(process.execPath, [join(repoDir, 'scripts/make-busybox-image.mjs'), '--tar', tar], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const root = join(dir, 'berth');
    const berth = (...args: string[]) => spawnSync(process.execPath, [join(repoDir, 'src/bin/berth.ts'), '--root', root, ...args], { encoding: 'utf8' });
    assert.equal(berth('import', '--change', 'CMD ["sh"]', tar, 'busybox:latest').status, 0);
    assert.equal(berth('save', '-o', archive, 'busybox').status, 0);
    const imported = ctr('images', 'import', archive);
    assert.equal(imported.status, 0, imported.stderr);
  });

  after(async () => {
    // tasks a failed test left: killed and deleted through containerd, so the shims end too
    for (const id of ids) {
      ctr('task', 'kill', '-s', 'SIGKILL', id);
      ctr('task', 'delete', '-f', id);
      ctr('container', 'delete', id);
    }
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.on('exit', r));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (!hadRunContainerd) rmSync('/run/containerd', { recursive: true, force: true });
  });

  it('runs a task to completion through the runc shim', () => {
    const r = ctr('run', '--rm', ...runtime, 'docker.io/library/busybox:latest', 'berth-t1', 'sh', '-c', 'echo via-berth');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'via-berth\n');
  });

  it('execs into a running task, pauses, resumes, kills and deletes it', async () => {
    assert.equal(ctr('run', '-d', ...runtime, 'docker.io/library/busybox:latest', 'berth-t2', 'sleep', '300').status, 0);
    const exec = ctr('task', 'exec', '--exec-id', 'e1', 'berth-t2', 'sh', '-c', 'echo exec-ok; cat /proc/1/cmdline');
    assert.equal(exec.status, 0, exec.stderr);
    assert.match(exec.stdout, /^exec-ok\nsleep\x00300\x00$/);
    const status = () => ctr('task', 'ls').stdout.split('\n').find((l) => l.startsWith('berth-t2'))?.trim().split(/\s+/)[2];
    assert.equal(ctr('task', 'pause', 'berth-t2').status, 0);
    assert.equal(status(), 'PAUSED');
    assert.equal(ctr('task', 'resume', 'berth-t2').status, 0);
    assert.equal(status(), 'RUNNING');
    assert.equal(ctr('task', 'kill', '-s', 'SIGKILL', 'berth-t2').status, 0);
    await waitFor(() => status() === 'STOPPED', 'the task to stop');
    assert.equal(ctr('task', 'delete', 'berth-t2').status, 0);
    assert.equal(ctr('container', 'delete', 'berth-t2').status, 0);
  });
});
