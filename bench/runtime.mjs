#!/usr/bin/env node
// Benchmark: `run` of a busybox /bin/true container with berth-runtime (CLI and in-process API), runc and crun.
// Usage (as root, from the repo): node_modules/node/bin/node bench/runtime.mjs [--runs N]
// Leaves nothing behind: temp bundle and --root dirs are named berth-bench-* and removed at the end.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, rmdirSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(REPO, 'node_modules/node/bin/node');
const BERTH_CLI = join(REPO, 'bin/berth-runtime');
const BERTH_DIST = join(REPO, 'dist/berth-runtime.cjs');
const CRUN_WRAP = 'umount /sys/fs/cgroup/unified; exec "$@"';

function parseRuns(argv) {
  let runs = 30;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') runs = Number(argv[++i]);
    else if (a.startsWith('--runs=')) runs = Number(a.slice(7));
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/runtime.mjs [--runs N]');
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs wants a positive integer');
  return runs;
}

function fail(msg) {
  const err = new Error(msg);
  err.benchFailure = true;
  throw err;
}

// stderr of the timed commands goes to a file (an fd like /dev/null: no pipe to drain), shown when one fails
let errLog;
function stderrTail() {
  if (!errLog) return '';
  try {
    const text = readFileSync(errLog.path, 'utf8').trim();
    return text ? `\n  stderr (last lines):\n    ${text.split('\n').slice(-5).join('\n    ')}` : '';
  } catch {
    return '';
  }
}

/** Run a command synchronously, return elapsed ms; abort on non-zero exit. */
function timed(label, cmd, args) {
  const stdio = ['ignore', 'ignore', errLog ? errLog.fd : 'ignore'];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) fail(`${label}: could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${label}: \`${cmd} ${args.join(' ')}\` exited with ${r.status ?? 'signal ' + r.signal}${stderrTail()}`);
  return ms;
}

/** Run a command for setup, return stdout; abort on failure (stderr shown). */
function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error || r.status !== 0) fail(`\`${cmd} ${args.join(' ')}\` failed: ${r.error ? r.error.message : (r.stderr || '').trim() || 'exit ' + r.status}`);
  return r.stdout;
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const median = (xs) => quantile(xs, 0.5);
const p90 = (xs) => quantile(xs, 0.9);

function buildBundle(dir) {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const l of ['true', 'sh']) symlinkSync('busybox', join(rootfs, 'bin', l));
  must('runc', ['spec'], { cwd: dir });
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  config.process.terminal = false;
  config.process.args = ['/bin/true'];
  // an absolute cgroup of the bench's own for every runtime: runc and crun given none nest
  // theirs under the caller's cgroup (a cgroup of this machine's, never to be touched). The runs
  // are one at a time, and each runtime removes the cgroup when its run ends.
  config.linux.cgroupsPath = BENCH_CGROUP;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
}

const BENCH_CGROUP = `/berth-bench-${process.pid}`;

/** The bench's cgroup, should a killed run have left it, in every hierarchy. */
function removeBenchCgroup() {
  for (const hierarchy of ['', ...readdirSync('/sys/fs/cgroup')]) {
    try {
      rmdirSync(join('/sys/fs/cgroup', hierarchy, BENCH_CGROUP));
    } catch {
      // not there
    }
  }
}

function fmt(x, digits = 1) {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function table(header, rows) {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => String(r[c]).length)));
  const line = (r) => r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** cgroup dirs (depth ≤ 3) whose name mentions berth-bench. */
function leftoverCgroups() {
  const found = [];
  const walk = (dir, depth) => {
    if (depth > 3) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name.includes('berth-bench')) found.push(p);
      else walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 1);
  return found;
}

async function main() {
  const runs = parseRuns(process.argv.slice(2));
  if (process.getuid?.() !== 0) fail('run as root (containers need it)');
  if (!existsSync(BERTH_DIST)) fail(`${BERTH_DIST} missing; build first: node_modules/node/bin/node scripts/build.mjs`);
  for (const tool of ['runc', 'crun', 'unshare']) must('sh', ['-c', `command -v ${tool}`]);

  const tmpDirs = [];
  const mk = (base, name) => {
    const d = mkdtempSync(join(base, `berth-bench-${name}-`));
    tmpDirs.push(d);
    return d;
  };
  const started = { berth: new Set(), runc: new Set(), crun: new Set(), api: new Set() };
  let roots;
  const fds = [];
  try {
    const bundle = mk(tmpdir(), 'bundle');
    roots = { berth: mk('/run', 'berth'), runc: mk('/run', 'runc'), crun: mk('/run', 'crun'), api: mk('/run', 'api') };
    buildBundle(bundle);
    const logPath = join(bundle, 'stderr.log');
    errLog = { path: logPath, fd: openSync(logPath, 'a') };
    fds.push(errLog.fd);

    const { Runtime } = await import('../src/runtime/index.ts');
    const runtime = new Runtime({ root: roots.api });
    const fdNull = openSync('/dev/null', 'r+');
    fds.push(fdNull);

    const cases = {
      berth: (id) => timed('berth-runtime', BERTH_CLI, ['--root', roots.berth, 'run', '--bundle', bundle, id]),
      runc: (id) => timed('runc', 'runc', ['--root', roots.runc, 'run', '--bundle', bundle, id]),
      crun: (id) => timed('crun (via unshare)', 'unshare', ['-m', 'sh', '-c', CRUN_WRAP, 'sh', 'crun', '--root', roots.crun, 'run', '--bundle', bundle, id]),
      wrapper: () => timed('unshare wrapper', 'unshare', ['-m', 'sh', '-c', CRUN_WRAP, 'sh', 'true']),
      api: async (id) => {
        const t0 = process.hrtime.bigint();
        let res;
        try {
          res = await runtime.run(id, { bundleDir: bundle, stdio: { stdin: fdNull, stdout: fdNull, stderr: fdNull } });
        } catch (err) {
          fail(`in-process Runtime.run(${id}) failed: ${err?.message ?? err}`);
        }
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.exitCode !== 0) fail(`in-process Runtime.run(${id}): container exited with ${res.exitCode}`);
        return ms;
      },
      nodeStart: () => timed('node -e 0', NODE, ['-e', '0']),
      berthVersion: () => timed('berth-runtime --version', NODE, [BERTH_DIST, '--version']),
    };
    const order = Object.keys(cases);
    const samples = Object.fromEntries(order.map((k) => [k, []]));

    // one warm-up round (not recorded): page cache, first import of the API, ...
    const rounds = runs + 1;
    for (let i = 0; i < rounds; i++) {
      const id = `berth-bench-${process.pid}-${i}`;
      for (let j = 0; j < order.length; j++) {
        const key = order[(i + j) % order.length]; // rotate who goes first
        if (started[key]) started[key].add(id);
        const ms = await cases[key](id);
        if (started[key]) started[key].delete(id); // run removes the container when it exits 0
        if (i > 0) samples[key].push(ms);
      }
      if (process.stderr.isTTY) process.stderr.write(`\r${i}/${runs}`);
    }
    if (process.stderr.isTTY) process.stderr.write('\r');

    const wrapperMed = median(samples.wrapper);
    const crunNet = samples.crun.map((x) => x - wrapperMed);
    const stats = {
      berth: { name: 'berth-runtime run (CLI)', xs: samples.berth },
      api: { name: 'berth Runtime.run (in-process)', xs: samples.api },
      runc: { name: 'runc run', xs: samples.runc },
      crun: { name: 'crun run (wrapper subtracted)', xs: crunNet },
      crunRaw: { name: 'crun run (incl. unshare wrapper)', xs: samples.crun },
      wrapper: { name: 'unshare wrapper only', xs: samples.wrapper },
    };
    for (const s of Object.values(stats)) {
      s.med = median(s.xs);
      s.p90 = p90(s.xs);
    }
    const runcMed = stats.runc.med, crunMed = stats.crun.med;

    console.log(`berth runtime bench: ${runs} runs each (interleaved, rotating order; 1 warm-up round dropped), busybox /bin/true`);
    console.log(`node ${process.version}, ${new Date().toISOString()}`);
    console.log('config.json: runc spec + process.args=["/bin/true"], terminal=false');
    console.log(`crun runs as: unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun ...' (hybrid cgroup layout);`);
    console.log(`  the wrapper alone (exec true) has median ${fmt(wrapperMed, 2)} ms, subtracted from crun's times.\n`);
    table(
      ['runtime', 'median ms', 'p90 ms', 'x runc', 'x crun'],
      Object.values(stats).map((s) => [s.name, fmt(s.med, 2), fmt(s.p90, 2), fmt(s.med / runcMed, 2), fmt(s.med / crunMed, 2)]),
    );

    console.log('\nwhere berth-runtime run (CLI) time goes (medians):');
    const nodeMed = median(samples.nodeStart), verMed = median(samples.berthVersion);
    table(
      ['step', 'median ms', 'delta ms'],
      [
        ['(a) node -e 0 (Node start)', fmt(nodeMed, 2), fmt(nodeMed, 2)],
        ['(b) node dist/berth-runtime.cjs --version', fmt(verMed, 2), `+${fmt(verMed - nodeMed, 2)} bundle load`],
        ['(c) in-process Runtime.run', fmt(stats.api.med, 2), ''],
        ['(d) whole CLI run', fmt(stats.berth.med, 2), `(b)+(c) = ${fmt(verMed + stats.api.med, 2)}`],
      ],
    );

    console.log('\ngoals:');
    const g1 = stats.berth.med <= 1.5 * runcMed;
    const g2 = stats.api.med <= crunMed;
    console.log(`  berth-runtime run CLI <= 1.5x runc: ${fmt(stats.berth.med, 2)} ms vs ${fmt(1.5 * runcMed, 2)} ms -> ${g1 ? 'MET' : 'NOT MET'} (${fmt(stats.berth.med / runcMed, 2)}x)`);
    console.log(`  in-process API run <= crun:          ${fmt(stats.api.med, 2)} ms vs ${fmt(crunMed, 2)} ms -> ${g2 ? 'MET' : 'NOT MET'} (${fmt(stats.api.med / crunMed, 2)}x)`);
  } finally {
    for (const fd of fds) closeSync(fd);
    // containers left by an aborted run (a successful `run` deletes its own)
    if (roots) {
      for (const id of started.berth) spawnSync(BERTH_CLI, ['--root', roots.berth, 'delete', '-f', id], { stdio: 'ignore' });
      for (const id of started.runc) spawnSync('runc', ['--root', roots.runc, 'delete', '-f', id], { stdio: 'ignore' });
      for (const id of started.crun) spawnSync('unshare', ['-m', 'sh', '-c', CRUN_WRAP, 'sh', 'crun', '--root', roots.crun, 'delete', '-f', id], { stdio: 'ignore' });
      for (const id of started.api) spawnSync(BERTH_CLI, ['--root', roots.api, 'delete', '-f', id], { stdio: 'ignore' });
    }
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
    removeBenchCgroup();
    const left = leftoverCgroups();
    if (left.length) console.error(`warning: cgroups left behind (remove with rmdir):\n  ${left.join('\n  ')}`);
  }
}

main().catch((err) => {
  console.error(`bench failed: ${err?.benchFailure ? err.message : (err?.stack ?? err)}`);
  process.exitCode = 1;
});
