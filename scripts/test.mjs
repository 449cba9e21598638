#!/usr/bin/env node
// Runs berth's tests with node's test runner: unit tests always; as root also the
// integration and e2e tests (real containers), then a last check that nothing leaked.
// Usage: npm test [-- --unit] [-- files...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
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
function runSuite(list, extra = []) {
  // berth-init's reaper mode adopts containers orphaned by `create`, as a containerd shim would.
  const reaper = join(repoDir, 'build/berth-init');
  const cmd = existsSync(reaper) && isRoot ? [reaper, 'reap', '--', nodeBin] : [nodeBin];
  const res = spawnSync(cmd[0], [...cmd.slice(1), '--test', '--test-reporter=spec', `--test-concurrency=${process.env.BERTH_TEST_CONCURRENCY ?? 2}`, ...extra, ...list], {
    cwd: repoDir,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, BERTH_REPO_DIR: repoDir },
  });
  process.stdout.write(res.stdout ?? '');
  for (const [key, re] of [['pass', /^ℹ pass (\d+)/m], ['fail', /^ℹ fail (\d+)/m], ['skipped', /^ℹ skipped (\d+)/m]]) {
    const m = re.exec(res.stdout ?? '');
    if (m) totals[key] += Number(m[1]);
  }
  return res.status ?? 1;
}

let status = runSuite(files);
if (isRoot && !unitOnly && explicit.length === 0) {
  const leaks = join(repoDir, 'test/leaks.check.ts');
  if (existsSync(leaks)) status = runSuite([leaks]) || status;
  status = runCgroupV2Suite() || status;
}

// Most users run cgroup v2; this machine may not. The runtime and cgroup integration tests run
// again on a real cgroup v2 kernel booted by shared/cg2vm (skipped, and said so, when it is
// not there, or with BERTH_SKIP_CG2VM=1).
function runCgroupV2Suite() {
  if (process.env.CG2VM === '1') return 0; // already inside the VM
  const vm = join(repoDir, '../shared/cg2vm/run-in-cgroup2-vm.sh');
  if (process.env.BERTH_SKIP_CG2VM === '1' || !existsSync(vm)) {
    console.log(`\ncgroup v2 suite skipped: ${existsSync(vm) ? 'BERTH_SKIP_CG2VM=1' : `no ${vm}`}`);
    return 0;
  }
  const v2Tests = ['test/integration/cgroups.test.ts', 'test/integration/runtime-exec.test.ts', 'test/integration/runtime-isolation.test.ts', 'test/integration/runtime-lifecycle.test.ts', 'test/integration/runtime-namespaces.test.ts', 'test/integration/runtime-errors.test.ts'];
  console.log('\ncgroup v2 suite (in the cg2vm VM):');
  const reaper = join(repoDir, 'build/berth-init');
  const res = spawnSync(vm, ['--share', repoDir, '--timeout', '1200', '--', reaper, 'reap', '--', nodeBin, '--test', '--test-reporter=spec', '--test-concurrency=1', ...v2Tests.map((t) => join(repoDir, t))], {
    cwd: repoDir,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  process.stdout.write(res.stdout ?? '');
  for (const [key, re] of [['pass', /^ℹ pass (\d+)/m], ['fail', /^ℹ fail (\d+)/m], ['skipped', /^ℹ skipped (\d+)/m]]) {
    const m = re.exec(res.stdout ?? '');
    if (m) totals[key] += Number(m[1]);
  }
  if (res.status !== 0 && !/^ℹ fail [1-9]/m.test(res.stdout ?? '')) totals.fail += 1; // the VM itself failed
  return res.status ?? 1;
}
console.log(`\ntests: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(status);
