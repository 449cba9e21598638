/**
 * Containers see their own limits (`berth run`'s limits view), through the CLI, as root, on
 * cgroup v1 here and v2 in the cg2vm VM: every file of the view read inside busybox and Debian
 * containers and compared with figures the test computes from the container's cgroup files;
 * busybox's and procps's free, top, uptime, nproc and getconf; usage moving the figures; a killed
 * view (the container keeps running, its reads recover, or fall back to the host's after
 * `system check`); --limits-view=false; and nothing left behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, busyboxRoot, ok } from '../fixtures/berth-cli.ts';
import { isView } from '../fixtures/views.ts';
import { signalProcess } from '../../src/common/index.ts';

const skip = process.getuid?.() === 0 ? false : 'the limits view e2e tests need root';
const repoDir = join(import.meta.dirname, '../..');
const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
const MiB = 1024 * 1024;

const host = {
  memTotalKb: () => Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]),
  cpus: () => {
    const text = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
    return text.split(',').reduce((n, part) => {
      const [a, b = a] = part.split('-').map(Number) as [number, number?];
      return n + (b! - a + 1);
    }, 0);
  },
};

/** A number of the container's cgroup, read by the test itself (v1: the controller's own tree). */
function cgroupNumber(cgroupsPath: string, controller: string, file: string): number {
  const path = v2 ? join('/sys/fs/cgroup', cgroupsPath, file) : join('/sys/fs/cgroup', controller, cgroupsPath, file);
  return Number(readFileSync(path, 'utf8').trim().split(/\s/)[0]);
}
function meminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([\w()]+):\s+(\d+)( kB)?$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}
const viewMounts = (root: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - fuse.berth-view ') && l.includes(root));
/** The view processes of a root's running containers: each keeper (recorded in the runtime's
 * state) and its server, keepers first. */
function viewPids(root: string): number[] {
  const runtime = join(root, 'run/runtime');
  const keepers: number[] = [];
  for (const id of existsSync(runtime) ? readdirSync(runtime) : []) {
    try {
      const pid = (JSON.parse(readFileSync(join(runtime, id, 'state.json'), 'utf8')) as { view?: { pid: number } }).view?.pid;
      if (pid && isView(pid)) keepers.push(pid);
    } catch {
      // not a container's state
    }
  }
  return [...keepers, ...keepers.flatMap(childrenOf).filter(isView)];
}
const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);

describe('berth run: containers see their own limits', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  before(() => {
    box = busyboxRoot('limits');
    root = box.root;
  });
  after(() => box?.remove());
  const exec = (name: string, script: string) => ok(berth(root, ['exec', name, 'sh', '-c', script]));
  const cgroupOf = (name: string) => (JSON.parse(ok(berth(root, ['inspect', name]))) as [{ Berth: { CgroupsPath: string; LimitsView: boolean } }])[0].Berth;

  it('--memory 256m --cpus 1 --cpuset-cpus 0: every file of the view, against the cgroup files', () => {
    ok(berth(root, ['run', '-d', '--name', 'lim', '--network', 'none', '--memory', '256m', '--cpus', '1', '--cpuset-cpus', '0', '--tmpfs', '/big:size=200m', 'busybox', 'sleep', '300']));
    const { CgroupsPath: cg, LimitsView } = cgroupOf('lim');
    assert.equal(LimitsView, true);
    // meminfo: the limit, and free = limit - usage (the usage read just after: within 4 MiB)
    const mem = meminfo(exec('lim', 'cat /proc/meminfo'));
    const usage = cgroupNumber(cg, 'memory', v2 ? 'memory.current' : 'memory.usage_in_bytes');
    assert.equal(mem.MemTotal, 262144);
    assert.ok(Math.abs(mem.MemFree! * 1024 - (256 * MiB - usage)) < 4 * MiB, `MemFree ${mem.MemFree} kB, usage ${usage}`);
    assert.ok(mem.MemAvailable! >= mem.MemFree! && mem.MemAvailable! <= mem.MemTotal!);
    // 100 MB more in the container: MemFree falls by about as much, Shmem (tmpfs) grows
    exec('lim', 'dd if=/dev/zero of=/big/fill bs=1M count=100 2>/dev/null');
    const after = meminfo(exec('lim', 'cat /proc/meminfo'));
    assert.ok(mem.MemFree! - after.MemFree! > 95 * 1024, `MemFree went from ${mem.MemFree} to ${after.MemFree} kB`);
    assert.ok(after.Shmem! - (mem.Shmem ?? 0) > 95 * 1024, `Shmem went from ${mem.Shmem} to ${after.Shmem} kB`);
    exec('lim', 'rm /big/fill');
    // the binds keep the view's mount flags: read-only, nosuid, nodev, noexec
    const binds = exec('lim', 'grep -E " /proc/meminfo | /sys/devices/system/cpu/online " /proc/self/mountinfo').trim().split('\n');
    assert.equal(binds.length, 2);
    for (const line of binds) assert.match(line.split(' ')[5]!, /^ro,nosuid,nodev,noexec/, line);
    assert.notEqual(berth(root, ['exec', 'lim', 'sh', '-c', 'echo x > /proc/meminfo']).status, 0);
    // CPUs: one, numbered 0, in every file that counts them
    assert.equal(exec('lim', 'cat /sys/devices/system/cpu/online'), '0\n');
    const cpuinfo = exec('lim', 'cat /proc/cpuinfo');
    assert.deepEqual([...cpuinfo.matchAll(/^processor\s*: (\d+)$/gm)].map((m) => m[1]), ['0']);
    assert.equal(exec('lim', 'nproc'), '1\n');
    // stat: cpu and cpu0 only, the total the sum of the CPUs, busy time from the cgroup's usage
    const stat = exec('lim', 'cat /proc/stat').split('\n');
    const cpuLines = stat.filter((l) => /^cpu\d* /.test(l)).map((l) => l.split(/\s+/));
    assert.deepEqual(cpuLines.map((l) => l[0]), ['cpu', 'cpu0']);
    assert.deepEqual(cpuLines[0]!.slice(1), cpuLines[1]!.slice(1), 'the total is its one CPU');
    assert.ok(stat.some((l) => l.startsWith('ctxt ')) && stat.some((l) => l.startsWith('btime ')), 'the other lines are the kernel\'s');
    const busyTicks = Number(cpuLines[1]![1]) + Number(cpuLines[1]![3]);
    const usageTicks = v2
      ? Number(/^usage_usec (\d+)$/m.exec(readFileSync(join('/sys/fs/cgroup', cg, 'cpu.stat'), 'utf8'))![1]) / 10_000
      : cgroupNumber(cg, 'cpuacct', 'cpuacct.usage') / 10_000_000;
    assert.ok(busyTicks <= usageTicks + 2, `busy ${busyTicks} ticks, the cgroup used ${usageTicks}`);
    // uptime: since the container started, idle = uptime - busy on its one CPU
    const [up, idle] = exec('lim', 'cat /proc/uptime').trim().split(' ').map(Number) as [number, number];
    const started = Date.parse((JSON.parse(ok(berth(root, ['inspect', 'lim']))) as [{ State: { StartedAt: string } }])[0].State.StartedAt);
    assert.ok(up >= 0 && up <= (Date.now() - started) / 1000 + 2, `uptime ${up} s`);
    assert.ok(idle <= up + 0.02, `idle ${idle} s > uptime ${up} s`);
    // loadavg: the kernel's format, over the container's own tasks (sleep, and the reading shell)
    const load = exec('lim', 'cat /proc/loadavg').trim();
    assert.match(load, /^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+\/\d+ \d+$/);
    const [running, total] = load.split(' ')[3]!.split('/').map(Number) as [number, number];
    assert.ok(total >= 2 && total < 10 && running <= total, `tasks ${running}/${total}`);
    // swaps: the kernel's header; diskstats: only devices the container did I/O on, host devices
    assert.match(exec('lim', 'cat /proc/swaps'), /^Filename\s+Type\s+Size\s+Used\s+Priority\n/);
    const hostDevices = new Set(readFileSync('/proc/diskstats', 'utf8').split('\n').map((l) => l.trim().split(/\s+/).slice(0, 3).join(' ')));
    for (const line of exec('lim', 'cat /proc/diskstats').split('\n').filter(Boolean)) assert.ok(hostDevices.has(line.trim().split(/\s+/).slice(0, 3).join(' ')), line);
    // busybox's free (sysinfo(2) and /proc/meminfo) and uptime (sysinfo(2))
    assert.equal(exec('lim', 'free').split('\n')[1]!.trim().split(/\s+/)[1], '262144');
    assert.match(exec('lim', 'uptime'), /up\s+(0 min|\d+ sec)/);
    // the limits are read live: `berth update` shows at the next read
    ok(berth(root, ['update', '--memory', '128m', '--memory-swap', '256m', 'lim']));
    assert.equal(meminfo(exec('lim', 'head -1 /proc/meminfo')).MemTotal, 131072);
    assert.equal(exec('lim', 'free').split('\n')[1]!.trim().split(/\s+/)[1], '131072');
    ok(berth(root, ['rm', '-f', 'lim']));
  });

  it("unlimited: the host's memory and CPUs; --limits-view=false: the kernel's own files", () => {
    const unlimited = meminfo(ok(berth(root, ['run', '--rm', '--network', 'none', 'busybox', 'cat', '/proc/meminfo'])));
    assert.equal(unlimited.MemTotal, host.memTotalKb());
    assert.equal(ok(berth(root, ['run', '--rm', '--network', 'none', 'busybox', 'grep', '-c', '^processor', '/proc/cpuinfo'])).trim(), String(host.cpus()));
    const off = ok(berth(root, ['run', '--rm', '--network', 'none', '--memory', '256m', '--limits-view=false', 'busybox', 'sh', '-c', 'head -1 /proc/meminfo; free | sed -n 2p; grep -c fuse /proc/self/mountinfo || true']));
    const [line, free, fuse] = off.split('\n');
    assert.equal(meminfo(line!).MemTotal, host.memTotalKb());
    assert.equal(Number(free!.trim().split(/\s+/)[1]), host.memTotalKb());
    assert.equal(fuse, '0', 'nothing is mounted over /proc');
    ok(berth(root, ['create', '--name', 'noview', '--limits-view=false', 'busybox', 'true']));
    assert.equal(cgroupOf('noview').LimitsView, false);
    ok(berth(root, ['rm', 'noview']));
  });

  it('procps and glibc in Debian: free, top, uptime, nproc and getconf show the limits', () => {
    // --no-liftoff in the cgroup v2 VM: under qemu's emulated CPU, V8's baseline wasm compiler
    // crashes Node now and then (scripts/test.mjs gives the test processes the same flag)
    const flags = process.env.CG2VM ? ['--no-liftoff'] : [];
    const made = spawnSync(join(repoDir, 'node_modules/node/bin/node'), [...flags, join(repoDir, 'scripts/make-debian-image.mjs'), '--root', root], { encoding: 'utf8', timeout: 900_000 });
    assert.equal(made.status, 0, made.stderr);
    const out = ok(berth(root, ['run', '--rm', '--network', 'none', '--memory', '256m', '--cpus', '1', '--cpuset-cpus', '0', 'debian:bookworm-minbase', 'sh', '-c', 'free -k | sed -n 2p; top -bn1 | head -5; uptime; nproc; getconf _NPROCESSORS_ONLN']));
    const lines = out.split('\n');
    assert.equal(lines[0]!.trim().split(/\s+/)[1], '262144', out);
    assert.match(out, /MiB Mem :\s+256\.0 total/);
    assert.match(out, /^top - .* up 0 min/m);
    assert.match(out, /%Cpu\(s\):/);
    assert.match(lines[6]!, /up 0 min/);
    assert.deepEqual(lines.slice(7, 9), ['1', '1']);
  });

  it('a killed view: the container keeps running, its reads recover; all of it killed: system check falls back to the kernel\'s files', async () => {
    ok(berth(root, ['run', '-d', '--name', 'kv', '--network', 'none', '--memory', '256m', 'busybox', 'sleep', '300']));
    const [keeper, server] = viewPids(root);
    assert.ok(keeper && server && parentOf(server) === keeper, `keeper ${keeper}, server ${server}`);
    signalProcess(server, 'SIGKILL');
    // the keeper starts another server: the reads go on (waiting for it at most a second)
    assert.match(exec('kv', 'head -1 /proc/meminfo'), /^MemTotal:\s+262144 kB$/m);
    assert.equal(exec('kv', 'free').split('\n')[1]!.trim().split(/\s+/)[1], '262144');
    const [, again] = viewPids(root);
    assert.ok(again && again !== server, 'a new server serves');
    // the keeper and its server both killed: reads fail (exec still works) until system check
    // turns the view off
    const killed = viewPids(root);
    for (const pid of killed) signalProcess(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const broken = berth(root, ['exec', 'kv', 'cat', '/proc/meminfo']);
    assert.equal(broken.status, 1, broken.stderr);
    assert.match(broken.stderr, /Transport endpoint is not connected|Software caused connection abort/);
    const check = ok(berth(root, ['system', 'check']));
    assert.match(check, /its limits view was gone; it reads the kernel's \/proc files again/);
    assert.equal(meminfo(exec('kv', 'head -1 /proc/meminfo')).MemTotal, host.memTotalKb());
    assert.equal(ok(berth(root, ['inspect', '-f', '{{.State.Status}}', 'kv'])), 'running\n');
    ok(berth(root, ['rm', '-f', 'kv']));
  });

  it('leaves no mount and no process of a view behind', async () => {
    ok(berth(root, ['run', '-d', '--name', 'last', '--network', 'none', 'busybox', 'sleep', '300']));
    assert.equal(viewMounts(root).length, 1);
    const pids = viewPids(root);
    assert.equal(pids.length, 2, 'a keeper and its server');
    ok(berth(root, ['rm', '-f', 'last']));
    ok(berth(root, ['run', '--rm', '--network', 'none', 'busybox', 'true']));
    assert.deepEqual(viewMounts(root), []);
    for (let i = 0; i < 50 && pids.some(isView); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(pids.filter(isView), [], 'the view ended with its container');
  });
});
