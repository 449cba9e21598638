/**
 * berth-init as a container's monitor (native/monitor.c): it holds the container's stdio,
 * writes docker's json-file log with rotation, serves attach clients, records the exit and runs
 * the exit command, and stays out of the container's cgroups.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harness, skipUnlessRoot, waitFor } from './helpers.ts';
import { uniqueId } from '../fixtures/bundle.ts';
import type { RuntimeConfig } from '../../src/oci/index.ts';
import type { MonitorOptions } from '../../src/runtime/compile.ts';

interface Frame {
  type: number;
  data: Buffer;
}

/** An attach client: the frames the monitor sends, and a way to send it some. */
function attach(path: string): Promise<{ socket: Socket; frames: Frame[]; closed: Promise<void>; send(type: number, data: Buffer): void }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const frames: Frame[] = [];
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 8 && pending.length >= 8 + pending.readUInt32BE(4)) {
        const len = pending.readUInt32BE(4);
        frames.push({ type: pending[0]!, data: pending.subarray(8, 8 + len) });
        pending = pending.subarray(8 + len);
      }
    });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.on('error', reject);
    socket.on('connect', () =>
      resolve({
        socket,
        frames,
        closed,
        send(type, data) {
          const h = Buffer.alloc(8);
          h[0] = type;
          h.writeUInt32BE(data.length, 4);
          socket.write(Buffer.concat([h, data]));
        },
      }),
    );
  });
}

describe('berth-init as a container monitor', { skip: skipUnlessRoot }, () => {
  const h = harness();
  const dirs: string[] = [];
  after(async () => {
    await h.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function monitored(mutate: (c: RuntimeConfig) => void, extra: Partial<MonitorOptions> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-test-monitor-'));
    dirs.push(dir);
    const monitor: MonitorOptions = {
      logPath: join(dir, 'container.log'),
      logMaxSize: 0,
      logMaxFiles: 1,
      attachPath: join(dir, 'attach.sock'),
      exitPath: join(dir, 'exit.json'),
      stdinOpen: false,
      exitCommand: ['/bin/sh', '-c', `echo done > ${join(dir, 'cleaned-up')}`],
      ...extra,
    };
    const b = h.bundle(mutate);
    const id = uniqueId();
    const { pid } = await h.runtime.create(id, { bundleDir: b.bundleDir, monitor });
    const client = await attach(monitor.attachPath);
    return { id, pid, dir, monitor, client, exit: async () => {
      await waitFor(() => existsSync(monitor.exitPath), 'the exit record');
      return JSON.parse(readFileSync(monitor.exitPath, 'utf8')) as { exitCode: number; signal: number; oomKilled: boolean; finishedAt: string };
    } };
  }

  it('writes stdout and stderr to a json-file log and to attach clients, then the exit record, then runs the exit command', async () => {
    const m = await monitored((c) => (c.process!.args = ['/bin/sh', '-c', 'echo out; echo err >&2; printf "say \\"hi\\"\\tand go"; exit 3']));
    await h.runtime.start(m.id);
    const exit = await m.exit();
    assert.equal(exit.exitCode, 3);
    assert.equal(exit.oomKilled, false);
    await m.client.closed;
    const records = readFileSync(m.monitor.logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
    assert.deepEqual(records.map((r) => [r.stream, r.log]), [['stdout', 'out\n'], ['stderr', 'err\n'], ['stdout', 'say "hi"\tand go']]);
    for (const r of records) assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const out = m.client.frames.filter((f) => f.type === 1).map((f) => f.data.toString()).join('');
    const err = m.client.frames.filter((f) => f.type === 2).map((f) => f.data.toString()).join('');
    assert.equal(out, 'out\nsay "hi"\tand go');
    assert.equal(err, 'err\n');
    const last = m.client.frames.at(-1)!;
    assert.equal(last.type, 3, 'the exit record comes last on the attach stream');
    assert.equal((JSON.parse(last.data.toString()) as { exitCode: number }).exitCode, 3);
    await waitFor(() => existsSync(join(m.dir, 'cleaned-up')), 'the exit command');
    assert.equal(existsSync(m.monitor.attachPath), false, 'the attach socket is gone');
    await h.runtime.delete(m.id, { force: true });
  });

  it('splits lines longer than 16 KiB and rotates the log at its size, keeping max-file files', async () => {
    const m = await monitored((c) => (c.process!.args = ['/bin/sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" a; echo; for i in $(seq 1 200); do echo line-$i; done']), {
      logMaxSize: 4096,
      logMaxFiles: 3,
    });
    await h.runtime.start(m.id);
    await m.exit();
    const files = readdirSync(m.dir).filter((f) => f.startsWith('container.log')).sort();
    assert.deepEqual(files, ['container.log', 'container.log.1', 'container.log.2']);
    const sizes = files.map((f) => readFileSync(join(m.dir, f)).length);
    for (const size of sizes.slice(1)) assert.ok(size <= 4096 + 16384 * 2, `rotated at about 4 KiB: ${sizes}`);
    const last = readFileSync(m.monitor.logPath, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { log: string }).log);
    assert.equal(last.at(-1), 'line-200\n');
    await h.runtime.delete(m.id, { force: true });
    // the long line: 16 KiB pieces, the last with the newline
    const m2 = await monitored((c) => (c.process!.args = ['/bin/sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" a; echo']));
    await h.runtime.start(m2.id);
    await m2.exit();
    const pieces = readFileSync(m2.monitor.logPath, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { log: string }).log);
    assert.deepEqual(pieces.map((p) => p.length), [16384, 16384, 40000 - 2 * 16384 + 1]);
    await h.runtime.delete(m2.id, { force: true });
  });

  it('feeds attach clients\' input to an open stdin, and closes it when asked', async () => {
    const m = await monitored((c) => (c.process!.args = ['/bin/sh', '-c', 'read a; echo got-$a; cat; echo stdin-closed']), { stdinOpen: true });
    await h.runtime.start(m.id);
    m.client.send(0, Buffer.from('first\n'));
    m.client.send(0, Buffer.from('rest\n'));
    m.client.send(1, Buffer.alloc(0));
    assert.equal((await m.exit()).exitCode, 0);
    await m.client.closed;
    assert.equal(m.client.frames.filter((f) => f.type === 1).map((f) => f.data.toString()).join(''), 'got-first\nrest\nstdin-closed\n');
    await h.runtime.delete(m.id, { force: true });
  });

  it('holds a pty for a terminal container: output, input and resize go through it', async () => {
    const m = await monitored((c) => {
      c.process!.terminal = true;
      c.process!.args = ['/bin/sh', '-c', 'read a; stty size; echo "[$a]"'];
    }, { stdinOpen: true });
    await h.runtime.start(m.id);
    const size = Buffer.alloc(4);
    size.writeUInt16BE(33, 0);
    size.writeUInt16BE(111, 2);
    m.client.send(2, size);
    m.client.send(0, Buffer.from('typed\r'));
    assert.equal((await m.exit()).exitCode, 0);
    await m.client.closed;
    const out = m.client.frames.filter((f) => f.type === 1).map((f) => f.data.toString()).join('');
    assert.match(out, /33 111/);
    assert.match(out, /\[typed\]/);
    assert.ok(m.client.frames.every((f) => f.type !== 2), 'a pty has one stream');
    await h.runtime.delete(m.id, { force: true });
  });

  it('records a kill by signal and an OOM kill, and stays out of the container\'s cgroups', async () => {
    const m = await monitored((c) => (c.process!.args = ['/bin/sleep', '60']));
    await h.runtime.start(m.id);
    const monitorPid = Number(readFileSync(`/proc/${m.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:(memory|):/.test(l))!;
    assert.match(cgroupOf(m.pid), /berth/);
    assert.doesNotMatch(cgroupOf(monitorPid), /berth/, 'the monitor is not charged to, nor killed with, the container');
    await h.runtime.kill(m.id, 'KILL');
    const killed = await m.exit();
    assert.deepEqual([killed.exitCode, killed.signal, killed.oomKilled], [137, 9, false]);
    await h.runtime.delete(m.id, { force: true });
    const oom = await monitored((c) => {
      c.linux!.resources = { ...c.linux!.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
      c.process!.args = ['/bin/sh', '-c', 'x=a; while true; do x=$x$x; done'];
    });
    await h.runtime.start(oom.id);
    const record = await oom.exit();
    assert.deepEqual([record.exitCode, record.oomKilled], [137, true]);
    await h.runtime.delete(oom.id, { force: true });
  });
});
