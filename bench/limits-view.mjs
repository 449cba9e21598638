#!/usr/bin/env node
// Limits-view benchmark: what berth's per-container view (berth-init view) costs, against lxcfs
// (Debian's, `lxcfs -l --enable-cfs`) and the kernel's own files, in one run:
//
//   1. a read of /proc/meminfo inside a busybox container (--memory 256m): open, read until EOF,
//      close, N times by a small static C reader copied into each container; the file is
//      berth's view, lxcfs's (bound over /proc/meminfo as lxcfs users do, --limits-view=false),
//      or the kernel's (--limits-view=false); rounds interleaved, median per read;
//   2. `berth run --rm --network none busybox true` with the view and with --limits-view=false,
//      interleaved rounds (1 warm-up round dropped): the time the view adds to a run;
//   3. memory: RSS and PSS of a running container's view (its keeper and server), and of lxcfs
//      (one for the whole host).
//
//   node_modules/node/bin/node bench/limits-view.mjs [--runs N] [--reads N] [--reads-only]
//
// As root. Everything is under one temp dir named berth-bench-limits-*; the containers, lxcfs
// and its mount are removed at the end, also on error.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(REPO, 'node_modules/node/bin/node');
const BERTH = join(REPO, 'bin/berth');
const LXCFS = '/usr/bin/lxcfs';

const opts = { runs: 20, reads: 2000, readsOnly: false };
for (let i = 2; i < process.argv.length; i++) {
  const [flag, value] = [process.argv[i], process.argv[i + 1]];
  if (flag === '--runs') opts.runs = Number(value), i++;
  else if (flag === '--reads') opts.reads = Number(value), i++;
  else if (flag === '--reads-only') opts.readsOnly = true;
  else throw new Error(`unknown flag ${flag}`);
}
if (process.getuid() !== 0) throw new Error('bench/limits-view.mjs needs root');
if (!existsSync(LXCFS)) throw new Error(`no ${LXCFS}: run ./setup.sh (it installs lxcfs)`);

const work = mkdtempSync(join(tmpdir(), 'berth-bench-limits-'));
const root = join(work, 'root');
const lxcfsDir = join(work, 'lxcfs');
let lxcfs;

const run = (cmd, args, o = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...o });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
};
const berth = (...args) => run(BERTH, ['--root', root, ...args]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (ns) => (Number(ns) / 1e6).toFixed(2);

/** RSS and PSS (kB) of processes, from smaps_rollup. */
function memoryOf(pids) {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    rss += Number(/^Rss:\s+(\d+)/m.exec(text)[1]);
    pss += Number(/^Pss:\s+(\d+)/m.exec(text)[1]);
  }
  return { rss, pss };
}
const childrenOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

try {
  run(NODE, [join(REPO, 'scripts/make-busybox-image.mjs'), '--root', root]);
  // the reader: open, read to EOF, close, N times; prints nanoseconds per read
  const src = join(work, 'reader.c');
  writeFileSync(src, `#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = atoi(argv[2]); char buf[65536]; struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) { int fd = open(argv[1], O_RDONLY); if (fd < 0) return 1; while (read(fd, buf, sizeof buf) > 0); close(fd); }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%lld\\n", ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
`);
  run('cc', ['-O2', '-static', '-o', join(work, 'reader'), src]);

  mkdirSync(lxcfsDir);
  lxcfs = spawn(LXCFS, ['-l', '--enable-cfs', '-p', join(work, 'lxcfs.pid'), lxcfsDir], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(join(lxcfsDir, 'proc/meminfo')); i++) spawnSync('sleep', ['0.05']);
  if (!existsSync(join(lxcfsDir, 'proc/meminfo'))) throw new Error('lxcfs did not mount');

  const kinds = {
    'berth view': [],
    lxcfs: ['--limits-view=false', '-v', `${lxcfsDir}/proc/meminfo:/proc/meminfo:ro`],
    kernel: ['--limits-view=false'],
  };
  for (const [name, flags] of Object.entries(kinds)) {
    berth('run', '-d', '--name', name.replace(' ', '-'), '--network', 'none', '--memory', '256m', ...flags, 'busybox', 'sleep', '3600');
    berth('cp', join(work, 'reader'), `${name.replace(' ', '-')}:/reader`);
  }
  const firstLine = (name) => berth('exec', name, 'head', '-1', '/proc/meminfo').trim();
  console.log(`MemTotal seen: berth view "${firstLine('berth-view')}", lxcfs "${firstLine('lxcfs')}", kernel "${firstLine('kernel')}"`);

  console.log(`\n1. a read of /proc/meminfo inside a container (open, read, close; median of ${opts.runs} rounds of ${opts.reads} reads)`);
  const reads = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  for (let r = 0; r < opts.runs; r++) {
    for (const name of Object.keys(kinds)) reads[name].push(Number(berth('exec', name.replace(' ', '-'), '/reader', '/proc/meminfo', String(opts.reads)).trim()));
  }
  const m = Object.fromEntries(Object.entries(reads).map(([k, v]) => [k, median(v)]));
  for (const [k, v] of Object.entries(m)) console.log(`   ${k.padEnd(11)} ${(v / 1000).toFixed(1).padStart(7)} µs`);
  console.log(`   berth view / lxcfs = ${(m['berth view'] / m.lxcfs).toFixed(2)}   (goal: at most 1)`);

  console.log('\n3. memory');
  // the view of the berth-view container: its keeper (in the runtime's state) and its server
  const runtime = join(root, 'run/runtime');
  const keepers = readdirSync(runtime)
    .map((id) => { try { return JSON.parse(readFileSync(join(runtime, id, 'state.json'), 'utf8')).view?.pid; } catch { return undefined; } })
    .filter(Boolean);
  const viewPids = [...keepers, ...keepers.flatMap(childrenOf)];
  const view = memoryOf(viewPids);
  const lx = memoryOf([lxcfs.pid, ...childrenOf(lxcfs.pid)]);
  console.log(`   berth view of one container (${viewPids.length} processes: keeper and server): RSS ${view.rss} kB, PSS ${view.pss} kB`);
  console.log(`   lxcfs (one for the host, serving the one container bound to it): RSS ${lx.rss} kB, PSS ${lx.pss} kB`);
  for (const name of Object.keys(kinds)) berth('rm', '-f', name.replace(' ', '-'));

  if (!opts.readsOnly) {
  console.log(`\n2. berth run --rm --network none busybox true (median of ${opts.runs} interleaved rounds, 1 warm-up dropped)`);
  const times = { with: [], without: [] };
  for (let r = 0; r <= opts.runs; r++) {
    for (const kind of r % 2 ? ['with', 'without'] : ['without', 'with']) {
      const t0 = process.hrtime.bigint();
      berth('run', '--rm', '--network', 'none', ...(kind === 'without' ? ['--limits-view=false'] : []), 'busybox', 'true');
      if (r > 0) times[kind].push(Number(process.hrtime.bigint() - t0));
    }
  }
  const [w, wo] = [median(times.with), median(times.without)];
  console.log(`   with the view ${ms(w)} ms, without ${ms(wo)} ms: the view adds ${ms(w - wo)} ms   (goal: at most 5 ms)`);
  }
} finally {
  spawnSync(BERTH, ['--root', root, 'rm', '-f', 'berth-view', 'lxcfs', 'kernel'], { stdio: 'ignore' });
  if (lxcfs) {
    lxcfs.kill('SIGTERM');
    await new Promise((r) => (lxcfs.exitCode !== null ? r() : lxcfs.once('exit', r)));
  }
  spawnSync('umount', ['-l', lxcfsDir], { stdio: 'ignore' });
  spawnSync(BERTH, ['--root', root, 'system', 'prune', '-af'], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
