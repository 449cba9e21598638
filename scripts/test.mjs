#!/usr/bin/env node
// Runs berth's tests with node's test runner: the type check and unit tests always; as root also
// the integration and e2e tests (real containers), the runtime's tests again with a berth-init
// built with AddressSanitizer and UBSan, a last check that nothing leaked, and the runtime and
// cgroup tests on a cgroup v2 kernel (shared/cg2vm).
// Usage: npm test [-- --unit] [-- files...]
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
const nodeBin = pickNode();

function pickNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 15)) return process.execPath;
  const local = join(repoDir, 'node_modules/node/bin/node');
  if (existsSync(local)) return local;
  console.error('berth needs Node >= 22.15: run ./setup.sh first');
  process.exit(2);
}

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

/** The runtime's and cgroups' integration tests: run again with the sanitizer build of
 * berth-init, and on the cgroup v2 kernel. */
const RUNTIME_TESTS = [
  'test/integration/cgroups.test.ts',
  'test/integration/runtime-cgroup-ownership.test.ts',
  'test/integration/runtime-conformance.test.ts',
  'test/integration/runtime-errors.test.ts',
  'test/integration/runtime-exec.test.ts',
  'test/integration/runtime-isolation.test.ts',
  'test/integration/runtime-limits-view.test.ts',
  'test/integration/runtime-lifecycle.test.ts',
  'test/integration/runtime-monitor.test.ts',
  'test/integration/runtime-namespaces.test.ts',
  'test/integration/runtime-security.test.ts',
  'test/integration/runtime-seccomp-cache.test.ts',
  'test/integration/runtime-user.test.ts',
];
// ...and on cgroup v2 the engine too: berth run, the container verbs and networking as a user types them
const CG2VM_TESTS = [...RUNTIME_TESTS, 'test/e2e/containers.test.ts', 'test/e2e/network.test.ts', 'test/e2e/limits-view.test.ts', 'test/e2e/docker-stats.test.ts'];

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit') || process.env.BERTH_UNIT_ONLY === '1';
const explicit = args.filter((a) => !a.startsWith('--'));
const isRoot = process.getuid?.() === 0;

let files = explicit;
if (files.length === 0) {
  files = findTests(join(repoDir, 'src'));
  if (isRoot && !unitOnly) {
    files.push(...findTests(join(repoDir, 'test/integration')), ...findTests(join(repoDir, 'test/e2e')));
  } else if (!isRoot) {
    console.log('not root: running unit tests only (integration tests need root)');
  }
}

const totals = { pass: 0, fail: 0, skipped: 0 };
function count(stdout) {
  for (const [key, re] of [['pass', /^ℹ pass (\d+)/m], ['fail', /^ℹ fail (\d+)/m], ['skipped', /^ℹ skipped (\d+)/m]]) {
    const m = re.exec(stdout ?? '');
    if (m) totals[key] += Number(m[1]);
  }
}

// CI gives the whole run 90 minutes, setup included: the tests take at most 70. Every suite runs under a deadline taken from
// one budget, so a hang anywhere ends as a failure that names what was still running, never as a
// silent timeout of the whole run; one test may take at most TEST_TIMEOUT_MS.
const startedAt = Date.now();
const BUDGET_MS = Number(process.env.BERTH_TEST_BUDGET_S ?? 70 * 60) * 1000;
const TEST_TIMEOUT_MS = 10 * 60 * 1000;
const remaining = () => BUDGET_MS - (Date.now() - startedAt);
/** Whether a test runner's output got as far as its summary (`ℹ tests N`): one killed, or never started, did not. */
const summarized = (stdout) => /^ℹ tests \d+/m.test(stdout ?? '');
// a synchronous child (spawnSync and kin) blocks the per-test timeout: this gives it one of its own
const SYNC_TIMEOUTS = join(repoDir, 'test/fixtures/sync-timeouts.ts');

/** Runs a child, its output streamed as it comes (and kept, to count), in a process group of its
 * own: past `deadlineMs` what still runs under it is printed and the group killed. It is done when
 * the child exits: a stray process that still holds the output pipe cannot hold the run. */
function runStreaming(cmd, args, { env = process.env, deadlineMs, label }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoDir, stdio: ['ignore', 'pipe', 'inherit'], env, detached: true });
    let stdout = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      console.log(`\n${label}: still running after ${Math.round(deadlineMs / 1000)} s; what runs under it:`);
      console.log(processTree(child.pid));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }, Math.max(deadlineMs, 1000));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const finish = () => {
        // a runner killed from outside (or by a signal to its process group) prints no summary
        if (!timedOut && !summarized(stdout)) console.log(`\n${label}: ended without its summary (${signal ? `killed by ${signal}` : `exit status ${code}`})`);
        resolve({ status: timedOut ? 124 : (code ?? (signal ? 128 : 1)), stdout, timedOut });
      };
      if (child.stdout.readableEnded) return finish();
      const grace = setTimeout(() => {
        console.log(`\n${label}: the suite exited, but a process it left still holds its output:`);
        console.log(processTree(child.pid, true));
        child.stdout.destroy();
        finish();
      }, 3000);
      child.stdout.on('end', () => {
        clearTimeout(grace);
        finish();
      });
    });
  });
}

/** `ps`-like lines for the processes under `root` (or, once it is gone, those of its group). */
function processTree(root, byGroup = false) {
  const procs = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const full = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const args = full.length > 240 ? `${full.slice(0, 80)} … ${full.slice(-150)}` : full; // a test file's name is last
      const wchan = readFileSync(`/proc/${name}/wchan`, 'utf8');
      procs.push({ pid: Number(name), state: f[0], ppid: Number(f[1]), pgid: Number(f[2]), wchan, args });
    } catch {
      // gone meanwhile
    }
  }
  const mine = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (!mine.has(p.pid) && (mine.has(p.ppid) || (byGroup && p.pgid === root))) grew = mine.add(p.pid) !== undefined;
  }
  const lines = procs.filter((p) => mine.has(p.pid)).map((p) => `  ${p.pid} ppid=${p.ppid} ${p.state} ${p.wchan || '-'} ${p.args}`);
  return lines.length ? lines.join('\n') : '  (none)';
}

async function runSuite(list, { extra = [], env = {}, label = 'tests', shareOfRest = 1 } = {}) {
  // berth-init's reaper mode adopts containers orphaned by `create`, as a containerd shim would.
  const reaper = join(repoDir, 'build/berth-init');
  const cmd = existsSync(reaper) && isRoot ? [reaper, 'reap', '--', nodeBin] : [nodeBin];
  const concurrency = `--test-concurrency=${process.env.BERTH_TEST_CONCURRENCY ?? 2}`;
  const res = await runStreaming(cmd[0], [...cmd.slice(1), '--test', '--test-reporter=spec', concurrency, `--test-timeout=${TEST_TIMEOUT_MS}`, '--import', SYNC_TIMEOUTS, ...extra, ...list], {
    env: { ...process.env, BERTH_REPO_DIR: repoDir, ...env },
    deadlineMs: remaining() * shareOfRest,
    label,
  });
  count(res.stdout);
  if (!summarized(res.stdout)) totals.fail += 1; // killed at its deadline, or from outside
  return res.status || (summarized(res.stdout) ? 0 : 1);
}

// Types are stripped when the tests run, never checked: tsc does that, first.
function typecheck() {
  const tsc = join(repoDir, 'node_modules/typescript/bin/tsc');
  if (!existsSync(tsc)) {
    console.log('typecheck skipped: no node_modules/typescript (run ./setup.sh)');
    return 0;
  }
  const res = spawnSync(nodeBin, [tsc, '--noEmit', '-p', repoDir], { cwd: repoDir, encoding: 'utf8' });
  const errors = (res.stdout.match(/error TS\d+/g) ?? []).length;
  if (res.status === 0) {
    console.log('typecheck: tsc --noEmit found no errors');
    totals.pass += 1;
    return 0;
  }
  process.stdout.write(res.stdout + res.stderr);
  console.log(`typecheck: tsc --noEmit found ${errors} error(s)`);
  totals.fail += 1;
  return 1;
}

// the container tests drive bin/berth, the bundle the monitors' exit commands run too: never stale
if (isRoot && !unitOnly) {
  const built = spawnSync(nodeBin, [join(repoDir, 'scripts/build.mjs')], { cwd: repoDir, stdio: 'inherit' });
  if (built.status !== 0) {
    console.error('build failed: see above');
    process.exit(1);
  }
}

let status = explicit.length === 0 ? typecheck() : 0;
const whole = isRoot && !unitOnly && explicit.length === 0;
// shares of what is left of the budget: here the host suite takes ~4 minutes, the sanitizer one
// ~1, the VM ~11 (with qemu): each may take several times that, and the VM keeps at least half
status = (await runSuite(files, { label: 'the test suite', shareOfRest: whole ? 0.4 : 1 })) || status;
if (whole) {
  status = (await runSanitizerSuite()) || status;
  const leaks = join(repoDir, 'test/leaks.check.ts');
  if (existsSync(leaks)) status = (await runSuite([leaks], { label: 'the leak check', shareOfRest: 0.1 })) || status;
  status = (await runCgroupV2Suite()) || status;
}

// berth-init built with -fsanitize=address,undefined (scripts/build.mjs): a finding aborts the
// container's set-up, so it fails the test. Leak detection is off: berth-init ends in execve or
// _exit, and LeakSanitizer's tracer cannot follow a process into the container's pid namespace.
async function runSanitizerSuite() {
  const asan = join(repoDir, 'build/berth-init-asan');
  if (process.env.BERTH_SKIP_ASAN === '1' || !existsSync(asan)) {
    console.log(`\nsanitizer suite skipped: ${existsSync(asan) ? 'BERTH_SKIP_ASAN=1' : 'no build/berth-init-asan'}`);
    return 0;
  }
  console.log('\nruntime tests with berth-init built with AddressSanitizer and UBSan:');
  return runSuite(RUNTIME_TESTS.map((t) => join(repoDir, t)), {
    label: 'the sanitizer suite',
    shareOfRest: 0.25,
    env: { BERTH_INIT: asan, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' },
  });
}

// Most users run cgroup v2; this machine may not. The runtime and cgroup integration tests run
// again on a real cgroup v2 kernel booted by shared/cg2vm (skipped, and said so, when it is
// not there, or with BERTH_SKIP_CG2VM=1). Its default backend (user-mode Linux) does not boot on
// every CPU; the VM is then booted with qemu instead.
async function runCgroupV2Suite() {
  if (process.env.CG2VM === '1') return 0; // already inside the VM
  const vm = join(repoDir, '../shared/cg2vm/run-in-cgroup2-vm.sh');
  if (process.env.BERTH_SKIP_CG2VM === '1' || !existsSync(vm)) {
    console.log(`\ncgroup v2 suite skipped: ${existsSync(vm) ? 'BERTH_SKIP_CG2VM=1' : `no ${vm}`}`);
    return 0;
  }
  const reaper = join(repoDir, 'build/berth-init');
  // --no-liftoff: under qemu's emulated CPU (TCG), wasm code from V8's baseline compiler crashes
  // Node about one time in two while it strips a .ts file's types (swc runs as wasm: "Check
  // failed: it->second.Size() > offset", or SIGSEGV); 0 in 10 with the optimizing compiler only.
  // (a V8 flag: not allowed in NODE_OPTIONS; the test runner passes it on to each file's process)
  const command = [reaper, 'reap', '--', nodeBin, '--no-liftoff', '--test', '--test-reporter=spec', '--test-concurrency=1', `--test-timeout=${TEST_TIMEOUT_MS}`, '--import', SYNC_TIMEOUTS, ...CG2VM_TESTS.map((t) => join(repoDir, t))];
  // the VM's own timeout ends the guest; ours (a minute later) ends the script if that fails
  const boot = (backend) => {
    const seconds = Math.floor(Math.min(1500, remaining() / 1000 - 60));
    if (seconds < 120) {
      console.log('cg2vm: no time is left in the run\'s budget to boot the VM');
      return Promise.resolve({ status: 124, stdout: '', timedOut: true });
    }
    return runStreaming(vm, ['--share', repoDir, '--timeout', String(seconds), ...(backend ? ['--backend', backend] : []), '--', ...command], {
      deadlineMs: (seconds + 60) * 1000,
      label: 'the cgroup v2 VM',
    });
  };
  // one more boot only when there is time for a whole suite (~11 minutes with qemu)
  const timeForAnother = () => remaining() > 16 * 60 * 1000;
  console.log('\ncgroup v2 suite (in the cg2vm VM):');
  let res = await boot(process.env.CG2VM_BACKEND);
  if (!summarized(res.stdout) && !process.env.CG2VM_BACKEND && timeForAnother()) {
    console.log('cg2vm: the default backend did not boot here (its output is above); booting it with qemu');
    res = await boot('qemu');
  }
  // the emulated guest now and then goes silent until its timeout (seen 2 times in ~20 runs,
  // each time at a different test; the suite takes ~11 minutes): one more boot, said so
  if ((res.status === 124 || res.timedOut) && !summarized(res.stdout) && timeForAnother()) {
    console.log('cg2vm: the guest went silent until its timeout (its output is above); booting it once more');
    res = await boot(process.env.CG2VM_BACKEND ?? 'qemu');
  }
  count(res.stdout);
  if (res.status !== 0 && !/^ℹ fail [1-9]/m.test(res.stdout ?? '')) totals.fail += 1; // the VM itself failed
  return res.status ?? 1;
}
console.log(`\ntests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(status);
