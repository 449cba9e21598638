/**
 * native/protocol.h and this module are one contract: the same op codes, names, stages and
 * argument layouts, the same sync words. Each side is read here and held against the other;
 * a plan with every op is encoded here and read back by berth-init's own reader.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ACK_ABORT, ACK_HOOKS, INIT_EXIT_SETUP_FAILED, MOUNT_KIND, OPS, PLAN_MAGIC, PLAN_VERSION, REQ_START, SECCOMP_FLAG_BITS, STAGES, argsMatchSignature, encodePlan, type OpName, type PlanStep } from './protocol.ts';
import { explainPlan } from '../runtime/explain.ts';

const repoDir = join(import.meta.dirname, '../..');
const header = readFileSync(join(repoDir, 'native/protocol.h'), 'utf8');

interface HeaderOp {
  enumName: string;
  code: number;
  name: string;
  stages: string;
  signature: string;
  /** The comment above the op: its arguments and syscalls. */
  doc: string;
}

function headerOps(): HeaderOp[] {
  const body = header.slice(header.indexOf('#define BERTH_OPS(X)'), header.indexOf('enum berth_op'));
  const out: HeaderOp[] = [];
  let doc = '';
  for (const raw of body.split('\n').slice(1)) {
    const line = raw.replace(/\\\s*$/, '').trim();
    const op = /^X\((\w+), (\d+), "([^"]+)", "([A-Z]*)", "([^"]*)"\)/.exec(line);
    if (op) {
      out.push({ enumName: op[1]!, code: Number(op[2]), name: op[3]!, stages: op[4]!, signature: op[5]!, doc });
      doc = '';
    } else {
      doc += ' ' + line.replace(/^\/\*|\*\/$/g, '').trim();
    }
  }
  return out;
}

const define = (name: string) => new RegExp(`#define ${name} (.+)`).exec(header)?.[1]?.trim();

/** One step of every op (the record's type makes this list complete). */
const SAMPLES: { [K in OpName]: Extract<PlanStep, { op: K }> } = {
  'cgroup-join': { stage: 'parent', op: 'cgroup-join', procsPath: '/sys/fs/cgroup/memory/berth/c/tasks' },
  setns: { stage: 'parent', op: 'setns', path: '/proc/1/ns/net', nsType: 0x4000_0000, namespace: 'network' },
  timens: { stage: 'parent', op: 'timens', offsets: 'monotonic 1 0' },
  clone: { stage: 'parent', op: 'clone', flags: 0x2002_0000, namespaces: ['pid', 'mount'] },
  'setgroups-deny': { stage: 'parent-after', op: 'setgroups-deny' },
  'uid-map': { stage: 'parent-after', op: 'uid-map', map: '0 1000 1' },
  'gid-map': { stage: 'parent-after', op: 'gid-map', map: '0 1000 1' },
  'become-root': { stage: 'child', op: 'become-root' },
  setsid: { stage: 'child', op: 'setsid' },
  propagation: { stage: 'child', op: 'propagation', path: '/', flags: 0x8_4000, flagNames: ['MS_REC', 'MS_SLAVE'], why: 'test' },
  rootfs: { stage: 'child', op: 'rootfs', path: '/b/rootfs', bind: true, mount: { type: 'overlay', source: 'overlay', data: 'lowerdir=l/a,upperdir=/c/u,workdir=/c/w', cwd: '/var/lib/berth/storage/overlay/l' } },
  mount: { stage: 'child', op: 'mount', source: 'proc', destination: '/proc', fstype: 'proc', flags: 0, flagNames: [], data: '', propagation: 0, attrSet: 1, attrClr: 0, isFile: false, remountFlags: 0, realDir: true },
  mkdir: { stage: 'child', op: 'mkdir', path: '/work', mode: 0o755 },
  mknod: { stage: 'child', op: 'mknod', path: '/dev/null', mode: 0o20666, major: 1, minor: 3, uid: 0, gid: 0, type: 'c' },
  'bind-device': { stage: 'child', op: 'bind-device', hostPath: '/dev/null', path: '/dev/null' },
  symlink: { stage: 'child', op: 'symlink', target: '/proc/self/fd', path: '/dev/fd' },
  hooks: { stage: 'child', op: 'hooks', name: 'createRuntime', count: 1 },
  'run-hook': { stage: 'child', op: 'run-hook', name: 'createContainer', path: '/bin/true', timeout: 5, cwd: '/b/rootfs', args: ['true', 'x'], env: ['A=b'], inheritEnv: false },
  'pivot-root': { stage: 'child', op: 'pivot-root' },
  chroot: { stage: 'child', op: 'chroot', move: true },
  mask: { stage: 'child', op: 'mask', path: '/proc/kcore' },
  readonly: { stage: 'child', op: 'readonly', path: '/proc/sys' },
  'remount-root-ro': { stage: 'child', op: 'remount-root-ro' },
  hostname: { stage: 'child', op: 'hostname', name: 'box' },
  domainname: { stage: 'child', op: 'domainname', name: 'example' },
  sysctl: { stage: 'child', op: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' },
  'oom-score-adj': { stage: 'child', op: 'oom-score-adj', value: -5 },
  rlimit: { stage: 'child', op: 'rlimit', type: 'RLIMIT_NOFILE', resource: 7, soft: 1024n, hard: 1024n },
  'console-connect': { stage: 'parent', op: 'console-connect', socketPath: '/run/console.sock' },
  console: { stage: 'child', op: 'console', rows: 24, cols: 80, uid: 0 },
  'close-fds': { stage: 'child', op: 'close-fds', from: 3 },
  chdir: { stage: 'child', op: 'chdir', path: '/work', deferrable: true },
  umask: { stage: 'child', op: 'umask', mask: 0o22 },
  personality: { stage: 'child', op: 'personality', persona: 8, domain: 'LINUX32' },
  setgroups: { stage: 'child', op: 'setgroups', gids: [1, 2, 3] },
  setgid: { stage: 'child', op: 'setgid', gid: 1 },
  setuid: { stage: 'child', op: 'setuid', uid: 1 },
  'caps-bounding': { stage: 'child', op: 'caps-bounding', mask: 1n, names: ['CAP_CHOWN'] },
  'no-new-privs': { stage: 'child', op: 'no-new-privs' },
  'seccomp-init': { stage: 'child', op: 'seccomp-init', defaultAction: 0x7fff_0000, actionName: 'SCMP_ACT_ALLOW', flags: 0, flagNames: [], ruleCount: 1, enosysStub: false },
  'seccomp-arch': { stage: 'child', op: 'seccomp-arch', arch: 'x86_64' },
  'seccomp-rule': { stage: 'child', op: 'seccomp-rule', action: 0x5_0001, actionName: 'SCMP_ACT_ERRNO', syscall: 'mkdir', args: [{ index: 1, op: 4, opName: 'SCMP_CMP_EQ', value: 2n, valueTwo: 0n }] },
  'seccomp-load': { stage: 'child', op: 'seccomp-load' },
  'resolve-exec': { stage: 'child', op: 'resolve-exec', program: 'sh', searchPath: '/bin' },
  ready: { stage: 'child', op: 'ready' },
  'exec-wait': { stage: 'child', op: 'exec-wait' },
  exec: { stage: 'child', op: 'exec', args: ['sh', '-c', 'true'], env: ['PATH=/bin'] },
  'cloexec-fds': { stage: 'child', op: 'cloexec-fds', from: 3 },
  'write-file': { stage: 'child', op: 'write-file', path: '/proc/self/attr/apparmor/exec', content: 'exec p' },
  'caps-set': { stage: 'child', op: 'caps-set', effective: 1n, permitted: 1n, inheritable: 0n, ambient: 0n, names: { effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'], inheritable: [], ambient: [] } },
  'start-socket': { stage: 'parent', op: 'start-socket', path: '/run/x/start.sock' },
  'console-pair': { stage: 'parent', op: 'console-pair' },
  dumpable: { stage: 'child', op: 'dumpable', value: false, reason: 'test' },
  'cgroup-open': { stage: 'parent', op: 'cgroup-open', dir: '/sys/fs/cgroup/berth/c' },
  unshare: { stage: 'child', op: 'unshare', flags: 0x0200_0000, namespaces: ['cgroup'] },
  'seccomp-listener': { stage: 'parent', op: 'seccomp-listener', path: '/run/listener.sock' },
  'seccomp-notify-send': { stage: 'child', op: 'seccomp-notify-send', parts: ['{"pid":', ',"x":', '}'], path: '/run/listener.sock' },
  ioprio: { stage: 'child', op: 'ioprio', value: 0x4004, className: 'IOPRIO_CLASS_BE', priority: 4 },
  sched: { stage: 'child', op: 'sched', policy: 0, policyName: 'SCHED_OTHER', flags: 0, flagNames: [], nice: -1, priority: 0, runtime: 0n, deadline: 0n, period: 0n },
  affinity: { stage: 'child', op: 'affinity', cpus: [0, 1], list: '0-1', when: 'test' },
  'bind-tree': { stage: 'parent', op: 'bind-tree', slot: 0, source: '/srv', recursiveTree: true, idmap: true, recursiveIdmap: false, uidMap: '0 1000 1', gidMap: '0 1000 1' },
  'device-tree': { stage: 'parent', op: 'device-tree', slot: 1, path: '/dev/foo', mode: 0o60666, major: 1, minor: 5, uid: 100010, gid: 100011, type: 'b' },
  view: { stage: 'parent', op: 'view', args: ['--dir', '/run/berth/runtime/c/view', '--cgroup-version', '2', '--memory', '/sys/fs/cgroup/berth/c'] },
  'rootfs-tree': { stage: 'parent', op: 'rootfs-tree', slot: 2, cwd: '/var/lib/berth/overlay', options: 'upperdir=/c/upper,workdir=/c/work', uidMap: '0 100000 65536', gidMap: '0 100000 65536', lowers: ['l/abc', 'l/def'] },
  'chdir-deferred': { stage: 'child', op: 'chdir-deferred' },
  'reset-signals': { stage: 'child', op: 'reset-signals' },
  remount: { stage: 'child', op: 'remount', path: '/dev', flags: 1, flagNames: ['MS_RDONLY'] },
  detach: { stage: 'child', op: 'detach', path: '/proc' },
  'home-env': { stage: 'child', op: 'home-env', uid: 0 },
  user: { stage: 'child', op: 'user', spec: 'nobody:nogroup', groups: ['wheel'] },
  'seccomp-bpf': { stage: 'child', op: 'seccomp-bpf', flags: 0, flagNames: [], program: Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]), ruleCount: 0, cached: false, enosysStub: false },
  monitor: { stage: 'parent', op: 'monitor', logPath: '/c/log', logMaxSize: 0, logMaxFiles: 1, attachPath: '/c/attach.sock', exitPath: '/c/exit', oomFile: '', stdinOpen: false, tty: false, exitCommand: ['/bin/true'] },
};

describe('native protocol', () => {
  it('has the same ops in protocol.h and protocol.ts: codes, names, stages and argument layouts', () => {
    const fromHeader = headerOps();
    assert.ok(fromHeader.length >= 60, `read ${fromHeader.length} ops from protocol.h`);
    const fromTs = Object.entries(OPS).map(([name, info]) => ({ name, ...info }));
    assert.deepEqual(
      fromHeader.map((op) => ({ name: op.name, code: op.code, stages: op.stages, signature: op.signature })).sort((a, b) => a.code - b.code),
      fromTs.map((op) => ({ name: op.name, code: op.code, stages: op.stages, signature: op.signature })).sort((a, b) => a.code - b.code),
    );
    assert.equal(new Set(fromHeader.map((op) => op.code)).size, fromHeader.length, 'op codes are unique');
  });

  it('has the same plan header, stages, sync words, flags and exit code', () => {
    assert.equal(define('BERTH_PLAN_MAGIC'), JSON.stringify(PLAN_MAGIC));
    assert.equal(define('BERTH_PLAN_VERSION'), `${PLAN_VERSION}u`);
    assert.equal(Number(define('STAGE_PARENT')?.split(' ')[0]), STAGES.parent);
    assert.equal(Number(define('STAGE_PARENT_AFTER')?.split(' ')[0]), STAGES['parent-after']);
    assert.equal(Number(define('STAGE_CHILD')?.split(' ')[0]), STAGES.child);
    assert.equal(define('ACK_HOOKS'), JSON.stringify(ACK_HOOKS));
    assert.equal(define('ACK_ABORT'), JSON.stringify(ACK_ABORT));
    assert.equal(define('REQ_START'), JSON.stringify(REQ_START));
    assert.equal(Number(define('BERTH_INIT_EXIT_SETUP_FAILED')), INIT_EXIT_SETUP_FAILED);
    assert.equal(define('BERTH_SECCOMP_FLAG_TSYNC'), `${SECCOMP_FLAG_BITS.SECCOMP_FILTER_FLAG_TSYNC}u`);
    assert.equal(define('BERTH_SECCOMP_FLAG_LOG'), `${SECCOMP_FLAG_BITS.SECCOMP_FILTER_FLAG_LOG}u`);
    assert.equal(define('BERTH_SECCOMP_FLAG_SPEC_ALLOW'), `${SECCOMP_FLAG_BITS.SECCOMP_FILTER_FLAG_SPEC_ALLOW}u`);
    assert.equal(define('BERTH_MOUNT_FILE'), `${MOUNT_KIND.file}u`);
    assert.equal(define('BERTH_MOUNT_COPY_UP'), `${MOUNT_KIND.copyUp}u`);
    assert.equal(define('BERTH_MOUNT_REAL_DIR'), `${MOUNT_KIND.realDir}u`);
  });

  it('checks arguments against a signature: strings, integers, counted lists and groups', () => {
    assert.ok(argsMatchSignature('s u', ['a', 1]));
    assert.ok(argsMatchSignature('s* s*', [2, 'a', 'b', 0]));
    assert.ok(argsMatchSignature('u s u4*', [1, 'x', 1, 0, 4, 2n, 0n]));
    assert.equal(argsMatchSignature('s u', ['a']), false, 'too few');
    assert.equal(argsMatchSignature('s', ['a', 'b']), false, 'too many');
    assert.equal(argsMatchSignature('u', ['a']), false, 'wrong kind');
    assert.equal(argsMatchSignature('s*', [3, 'a', 'b']), false, 'a count beyond the list');
  });

  it('encodes a plan of every op that berth-init reads back op for op (and counts above 255 fit)', (t) => {
    const init = join(repoDir, 'build/berth-init');
    if (!existsSync(init)) return t.skip('berth-init is not built');
    const many = Array.from({ length: 5000 }, (_, i) => `V_${i}=x`);
    const steps: PlanStep[] = [...Object.values(SAMPLES), { stage: 'child', op: 'exec', args: ['sh'], env: many }];
    const r = spawnSync(init, ['check-plan'], { input: encodePlan(steps), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const read = r.stdout.trim().split('\n').map((line) => line.split(' '));
    assert.deepEqual(
      read.map(([name, stage]) => [name, Number(stage)]),
      steps.map((s) => [s.op, STAGES[s.stage]]),
    );
    assert.equal(Number(read.at(-1)![2]), 1 + 1 + 1 + 5000, 'argc of the last exec: both counts and every string');
  });

  it('reads and frees a plan without a leak or undefined behaviour (sanitizer build)', (t) => {
    const asan = join(repoDir, 'build/berth-init-asan');
    if (!existsSync(asan)) return t.skip('no sanitizer build of berth-init');
    const r = spawnSync(asan, ['check-plan'], { input: encodePlan(Object.values(SAMPLES)), encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Sanitizer|runtime error/);
  });

  it('is refused by berth-init when an op breaks its signature or stage', (t) => {
    const init = join(repoDir, 'build/berth-init');
    if (!existsSync(init)) return t.skip('berth-init is not built');
    const plan = encodePlan([SAMPLES.mkdir]);
    // the mode (an integer) turned into a string: the layout no longer fits
    const broken = Buffer.concat([plan.subarray(0, plan.length - 12), Buffer.from([4, 0, 0, 0, 0x37, 0x35, 0x35, 0])]);
    let r = spawnSync(init, ['check-plan'], { input: broken, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /mkdir: op arguments do not follow its signature/);
    const wrongStage = Buffer.from(plan);
    wrongStage.writeUInt8(STAGES.parent, 8 + 2);
    r = spawnSync(init, ['check-plan'], { input: wrongStage, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /mkdir: op not valid in its stage/);
  });

  it('explains every op with the syscalls protocol.h says it makes', () => {
    const docs = new Map(headerOps().map((op) => [op.name, op.doc]));
    const missing: string[] = [];
    for (const step of Object.values(SAMPLES)) {
      const text = explainPlan([step]);
      const doc = docs.get(step.op) ?? '';
      // every call the header names for the op (umount2(, pivot_root(…), but for the
      // alternatives it gives with "or" (clone, or clone3 into a cgroup)
      const calls = [...doc.matchAll(/(\bor )?\b([a-z_][a-z0-9_]*)\(/g)].filter((m) => !m[1]).map((m) => m[2]!);
      for (const call of new Set(calls)) if (!text.includes(`${call}(`)) missing.push(`${step.op}: ${call}() in ${text.trim()}`);
    }
    assert.deepEqual(missing, [], 'explain leaves out calls protocol.h names');
  });
});
