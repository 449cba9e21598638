#!/usr/bin/env node
// Engine benchmark: berth's engine CLI against podman and dockerd, in one interleaved run, with
// the same busybox image in all three (berth's busybox:latest, saved and loaded into the others):
//
//   1. `run --rm --network none busybox true`, interleaved rounds (order rotated, 1 warm-up round
//      dropped), plus where berth's time goes: Node start, CLI start + bundle load, + database open;
//   2. idle memory per running container: RSS and PSS of the process that watches the container
//      (berth's monitor, podman's conmon, docker's containerd-shim-runc-v2);
//   3. N containers (default 50) started concurrently with `run -d … sleep 1000`, then removed
//      with one `rm -f` of all N;
//   4. the Docker Engine API (issue 15): the same docker client against `berth serve`, dockerd
//      and `podman system service`: 1. and 3. again through each, and each server's RSS with
//      N containers running.
//
//   node_modules/node/bin/node bench/engine.mjs [--runs N] [--count N] [--bulk-runs N] [--no-docker] [--no-api]
//
// As root. N (rounds of 1.) defaults to 20. Docker: a private dockerd with a private containerd,
// both started here and stopped at the end; when they cannot run, the bench says why and goes on
// without docker. Every store, socket and state dir is under one temp dir named berth-bench-*,
// cgroups made for podman and docker are /berth-bench-<pid>-{podman,docker}; all of it (and every
// container, mount and daemon) is removed at the end, also on error. Nothing contacts a registry.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(REPO, 'node_modules/node/bin/node');
const BERTH = join(REPO, 'bin/berth');
const BERTH_DIST = join(REPO, 'dist/berth.cjs');
const IMAGE = 'busybox:latest';
const TAG = `berth-bench-${process.pid}`;
const PODMAN_CGROUP = `/${TAG}-podman`;
const DOCKER_CGROUP = `/${TAG}-docker`;
// dirs podman, containerd and dockerd make outside their roots whatever their flags say: removed at
// the end (rmdir: only when empty) when they were not there before
const HOST_DIRS = ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker', '/run/containers/networks', '/run/containers'];
const LIBPOD_LOCK = '/dev/shm/libpod_lock';
const PODMAN_BLOB_CACHE = '/var/lib/containers/cache';

function parseArgs(argv) {
  const opts = { runs: 20, count: 50, bulkRuns: 3, docker: true, api: true };
  const int = (name, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} wants a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--runs') opts.runs = int(flag, value());
    else if (flag === '--count') opts.count = int(flag, value());
    else if (flag === '--bulk-runs') opts.bulkRuns = int(flag, value());
    else if (flag === '--no-docker') opts.docker = false;
    else if (flag === '--no-api') opts.api = false;
    else if (flag === '-h' || flag === '--help') {
      console.log('usage: node bench/engine.mjs [--runs N (20)] [--count N (50)] [--bulk-runs N (3)] [--no-docker] [--no-api]');
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  return opts;
}

function fail(msg) {
  const err = new Error(msg);
  err.benchFailure = true;
  throw err;
}

let interrupted = false;
const tick = () => new Promise((r) => setImmediate(r));
function checkInterrupt() {
  if (interrupted) fail('interrupted');
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

/** Run for set-up or a check; stdout returned, non-zero exit throws with stderr. */
function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error || r.status !== 0) {
    fail(`\`${cmd} ${args.join(' ')}\` failed: ${r.error ? r.error.message : (r.stderr || '').trim().split('\n').slice(-5).join(' / ') || 'exit ' + (r.status ?? r.signal)}`);
  }
  return r.stdout;
}

/** Run for clean-up; never throws. */
function quiet(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000, ...opts });
}

// stderr of the timed commands goes to a file per case (no pipe to drain): shown when one fails,
// and what successful runs wrote is summed up after the table
let logDir;
const errLogs = new Map();
function errLogFor(key) {
  if (!errLogs.has(key)) {
    const path = join(logDir, `stderr-${key}.log`);
    errLogs.set(key, { path, fd: openSync(path, 'a') });
  }
  return errLogs.get(key);
}
function readLog(key) {
  try {
    return readFileSync(errLogs.get(key).path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Run one command synchronously, return elapsed ms; abort on non-zero exit. */
function timed(key, label, cmd, args, env) {
  const log = errLogFor(key);
  const size0 = readLog(key).length;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', log.fd], env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) fail(`${label}: could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const text = readLog(key).slice(size0).trim();
    fail(`${label}: \`${cmd} ${args.join(' ')}\` exited with ${r.status ?? 'signal ' + r.signal}${text ? `\n  stderr:\n    ${text.split('\n').slice(-5).join('\n    ')}` : ''}`);
  }
  return ms;
}

/** The distinct lines (with counts) of what successful commands wrote to stderr. */
function stderrSummary(texts) {
  const counts = new Map();
  for (const t of texts) for (const line of t.split('\n').map((l) => l.replace(/\b[0-9a-f]{12,64}\b/g, '<id>').trim()).filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([line, n]) => `${n}x ${line.slice(0, 200)}`);
}

/** Start all commands at once (separate processes); resolve when every one has exited. */
async function concurrently(cmds) {
  const t0 = performance.now();
  const results = await Promise.all(
    cmds.map(
      ([cmd, args, env]) =>
        new Promise((res) => {
          const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
          let out = '', err = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (err += d));
          child.on('error', (e) => res({ status: null, out, err: String(e) }));
          child.on('close', (status, signal) => res({ status: status ?? signal, out, err }));
        }),
    ),
  );
  return { ms: performance.now() - t0, results };
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const median = (xs) => quantile(xs, 0.5);
const p90 = (xs) => quantile(xs, 0.9);
const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const signed = (x) => (x >= 0 ? '+' : '') + fmt(x);
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '-');

function table(header, rows) {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => String(r[c]).length)));
  const line = (r) => r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

const unescapeMount = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
/** Mount points under `base` (deepest first), from /proc/self/mountinfo. */
function mountsUnder(base) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => unescapeMount(line.split(' ')[4]))
    .filter((mp) => mp === base || mp.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

function unmountUnder(base) {
  for (let pass = 0; pass < 5; pass++) {
    const mps = mountsUnder(base);
    if (mps.length === 0) return 0;
    for (const mp of mps) quiet('umount', [mp]);
  }
  const left = mountsUnder(base);
  for (const mp of left) quiet('umount', ['-l', mp]);
  return left.length;
}

function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k) => text.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1];
  return { name: field('Name'), ppid: Number(field('PPid')) };
}

/** RSS and PSS (kB) of a process, from smaps_rollup. */
function memOf(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k) => Number(text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1]);
  return { rss: kb('Rss'), pss: kb('Pss') };
}

/** Pids of processes that hold anything under `base` (cmdline, cwd, root or an open fd). */
function processesUsing(base) {
  const found = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const p = `/proc/${e}`;
    try {
      const cmdline = readFileSync(`${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (!cmdline) continue; // kernel thread or gone
      let hit = cmdline.includes(base);
      for (const l of ['cwd', 'root']) {
        if (hit) break;
        try {
          hit = readlinkSync(`${p}/${l}`).startsWith(base);
        } catch {}
      }
      if (!hit) {
        for (const fd of readdirSync(`${p}/fd`)) {
          try {
            if (readlinkSync(`${p}/fd/${fd}`).startsWith(base)) {
              hit = true;
              break;
            }
          } catch {}
        }
      }
      if (hit) found.push({ pid: Number(e), cmdline: cmdline.slice(0, 160) });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Depth-first rmdir of a cgroup (and the children the engines left in it) in every hierarchy. */
function removeCgroupTree(rel) {
  const left = [];
  const rm = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch (err) {
      left.push(`${dir} (${err.code})`);
    }
  };
  for (const h of ['', ...readdirSync('/sys/fs/cgroup')]) {
    const dir = join('/sys/fs/cgroup', h, rel);
    if (h && !existsSync(join('/sys/fs/cgroup', h, 'cgroup.procs'))) continue;
    if (existsSync(dir)) rm(dir);
  }
  return left;
}

/** Names of berth's container cgroups (/berth/<id>) in the memory (v1) and unified (v2) hierarchies. */
/** The cgroup parent berth uses for a state root: /berth for the default one, /berth-<fnv1a64 of the root> else. */
function berthCgroupParent(root) {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(root)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return root === '/var/lib/berth' ? 'berth' : `berth-${h.toString(16).padStart(16, '0').slice(0, 12)}`;
}

function berthCgroups(parent) {
  const names = new Set();
  for (const h of ['memory', 'unified', '']) {
    try {
      for (const e of readdirSync(join('/sys/fs/cgroup', h, parent), { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
    } catch {}
  }
  return names;
}

/** A daemon in its own process group (a ^C at the terminal reaches the bench, which stops it in order). */
function startDaemon(cmd, args, logPath, env) {
  const fd = openSync(logPath, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true, ...(env ? { env } : {}) });
  closeSync(fd);
  const d = { cmd, child, pid: child.pid, exited: false, status: undefined };
  child.on('exit', (code, signal) => {
    d.exited = true;
    d.status = code ?? signal;
  });
  child.on('error', (e) => {
    d.exited = true;
    d.status = String(e.message);
  });
  return d;
}

async function stopDaemon(d, graceMs = 20_000) {
  if (!d || d.exited || !d.pid) return;
  const exited = new Promise((r) => d.child.once('exit', r));
  try {
    process.kill(d.pid, 'SIGTERM');
  } catch {}
  const t = await Promise.race([exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('timeout'), graceMs))]);
  if (t === 'timeout' && !d.exited) {
    console.log(`warning: ${d.cmd} (pid ${d.pid}) still running ${graceMs / 1000} s after SIGTERM: SIGKILL`);
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(path, n = 8) {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-n).join('\n    ');
  } catch {
    return '(no log)';
  }
}

/** Start a private containerd and a dockerd on it, all under `dir`; returns the docker handle or why it cannot run. */
async function startDocker(dir, daemons, client) {
  if (!have('dockerd')) return { why: 'dockerd is not installed (apt-get install docker.io)' };
  if (!have('containerd')) return { why: 'containerd is not installed (apt-get install containerd)' };
  if (!client) return { why: 'no docker client (/usr/bin/docker from docker.io)' };
  const ctd = join(dir, 'containerd');
  mkdirSync(ctd, { recursive: true });
  // a containerd of our own: dockerd without --containerd would use the host's
  // /run/containerd/containerd.sock whenever one is there (another user's containerd)
  const sock = join(ctd, 'containerd.sock');
  writeFileSync(
    join(ctd, 'config.toml'),
    [
      'version = 2',
      `root = ${JSON.stringify(join(ctd, 'root'))}`,
      `state = ${JSON.stringify(join(ctd, 'state'))}`,
      // no CRI (CNI, a streaming server), no /opt/containerd, no snapshotters that cannot work here
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", ' +
        '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", ' +
        '"io.containerd.tracing.processor.v1.otlp"]',
      '[grpc]',
      `  address = ${JSON.stringify(sock)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const ctdLog = join(dir, 'containerd.log');
  const containerd = startDaemon('containerd', ['--config', join(ctd, 'config.toml')], ctdLog);
  daemons.push(containerd);
  for (let i = 0; i < 100 && !existsSync(sock) && !containerd.exited; i++) await sleep(100);
  if (!existsSync(sock)) return { why: `containerd did not start (${containerd.exited ? 'exited ' + containerd.status : 'no socket after 10 s'}):\n    ${tail(ctdLog)}` };

  const dockerSock = join(dir, 'docker.sock');
  const daemonJson = join(dir, 'daemon.json');
  // the trust key dockerd 20.10 would otherwise write to /etc/docker/key.json
  writeFileSync(daemonJson, JSON.stringify({ 'deprecated-key-path': join(dir, 'docker-key.json') }));
  const dockerdLog = join(dir, 'dockerd.log');
  const dockerd = startDaemon('dockerd', [
    '--config-file', daemonJson,
    '--data-root', join(dir, 'docker-data'),
    '--exec-root', join(dir, 'docker-exec'),
    '--pidfile', join(dir, 'docker.pid'),
    '-H', `unix://${dockerSock}`,
    '--containerd', sock,
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false',
    `--cgroup-parent=${DOCKER_CGROUP}`,
  ], dockerdLog);
  daemons.push(dockerd);
  const env = { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  const base = [client, '-H', `unix://${dockerSock}`];
  let version;
  for (let i = 0; i < 300 && !dockerd.exited; i++) {
    const r = quiet(base[0], [...base.slice(1), 'version', '--format', '{{.Server.Version}}'], { env });
    if (r.status === 0) {
      version = r.stdout.trim();
      break;
    }
    await sleep(100);
  }
  if (!version) return { why: `dockerd did not come up (${dockerd.exited ? 'exited ' + dockerd.status : 'no answer after 30 s'}):\n    ${tail(dockerdLog)}` };
  const driver = quiet(base[0], [...base.slice(1), 'info', '--format', '{{.Driver}}'], { env }).stdout?.trim();
  return { cmd: base, env, version, driver, containerd, dockerd, log: dockerdLog };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) fail('run as root (containers need it)');
  if (!existsSync(BERTH_DIST)) fail(`${BERTH_DIST} missing; build first: node_modules/node/bin/node scripts/build.mjs`);
  const hasPodman = have('podman');
  const dockerClient = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : have('docker') ? 'docker' : undefined;

  const onSignal = (sig) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${sig}: stopping after the current command, then cleaning up`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const missingHostDirs = HOST_DIRS.filter((d) => !existsSync(d));
  const libpodLock = existsSync(LIBPOD_LOCK) ? undefined : LIBPOD_LOCK;
  const missingPodmanDirs = [PODMAN_BLOB_CACHE, dirname(PODMAN_BLOB_CACHE)].filter((d) => !existsSync(d));
  const base = mkdtempSync(join(tmpdir(), 'berth-bench-engine-'));
  const daemons = [];
  const berthIds = new Set(); // every berth container id we saw (their cgroups are /<cgroupParent>/<id>)
  let docker;
  let podmanCmd;
  let podmanEnv;
  const berthRoot = join(base, 'berth-root');
  const berth = [BERTH, '--root', berthRoot];
  // the private root's containers' cgroups are under /berth-<hash of the root>
  const cgroupParent = berthCgroupParent(berthRoot);
  const berthCgroupsBefore = berthCgroups(cgroupParent);
  const notes = [];

  try {
    logDir = join(base, 'logs');
    mkdirSync(logDir);

    // ---- set-up (untimed): the image in all three stores
    must(NODE, [join(REPO, 'scripts/make-busybox-image.mjs'), '--root', berthRoot]);
    const tar = join(base, 'busybox.tar');
    must(berth[0], [...berth.slice(1), 'save', IMAGE, '-o', tar]);
    const berthVersion = must(berth[0], [...berth.slice(1), '--version']).trim();

    let podmanDriver = 'overlay';
    let podmanVersion = 'absent';
    if (hasPodman) {
      for (const d of ['podman-tmp', 'podman-net', 'podman-tmpfiles', 'runc']) mkdirSync(join(base, d));
      // podman sets TMPDIR=/var/tmp for itself (and conmon, and its cleanup command) unless given one
      podmanEnv = { ...process.env, TMPDIR: join(base, 'podman-tmpfiles') };
      const podmanArgs = (driver) => ['podman', '--root', join(base, 'podman-root'), '--runroot', join(base, 'podman-runroot'), '--tmpdir', join(base, 'podman-tmp'),
        '--network-config-dir', join(base, 'podman-net'), '--storage-driver', driver, '--events-backend', 'none', '--cgroup-manager', 'cgroupfs',
        '--runtime', 'runc', '--runtime-flag', `root=${join(base, 'runc')}`];
      const probe = quiet('podman', [...podmanArgs('overlay').slice(1), 'info', '--format', '{{.Store.GraphDriverName}}'], { env: podmanEnv });
      if (probe.status !== 0) {
        notes.push(`podman's overlay driver failed here, using vfs: ${(probe.stderr || '').trim().split('\n').slice(-2).join(' / ')}`);
        podmanDriver = 'vfs';
        unmountUnder(join(base, 'podman-root'));
        rmSync(join(base, 'podman-root'), { recursive: true, force: true });
        rmSync(join(base, 'podman-runroot'), { recursive: true, force: true });
      }
      podmanCmd = podmanArgs(podmanDriver);
      // podman load writes the host's blob-info cache (/var/lib/containers/cache, whatever --root
      // says) and a temp copy in /var/tmp: in a private mount namespace both are dirs of ours
      const binds = [];
      for (const [host, mine] of [[PODMAN_BLOB_CACHE, 'podman-cache'], ['/var/tmp', 'podman-vartmp']]) {
        if (!existsSync(host) || base.startsWith(`${host}/`)) continue;
        mkdirSync(join(base, mine));
        binds.push(join(base, mine), host);
      }
      if (!existsSync(PODMAN_BLOB_CACHE)) notes.push(`${PODMAN_BLOB_CACHE} was not there: podman load makes it, removed at the end`);
      const bindScript = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"';
      must('unshare', ['-m', '--propagation', 'private', 'sh', '-c', bindScript, 'sh', ...binds, '--', ...podmanCmd, 'load', '-q', '-i', tar], { env: podmanEnv });
      podmanVersion = must('podman', ['--version']).trim();
    } else {
      notes.push('podman is not installed: no podman column (apt-get install podman)');
    }

    let dockerWhy;
    if (opts.docker) {
      let r;
      try {
        r = await startDocker(join(base, 'docker'), daemons, dockerClient);
        if (!r.why) must(r.cmd[0], [...r.cmd.slice(1), 'load', '-q', '-i', tar], { env: r.env });
      } catch (err) {
        r = { why: err.message };
      }
      if (r.why) {
        dockerWhy = r.why;
        for (const d of [...daemons].reverse()) await stopDaemon(d);
        daemons.length = 0;
      } else docker = r;
    } else dockerWhy = 'left out (--no-docker)';

    const runcVersion = have('runc') ? must('runc', ['--version']).split('\n')[0] : 'absent';
    console.log(`berth engine bench, ${new Date().toISOString()}; node ${process.version}; ${cpus().length} CPUs; Linux ${must('uname', ['-r']).trim()}`);
    console.log(`image: ${IMAGE} made by scripts/make-busybox-image.mjs, \`berth save\`d and loaded into podman and docker (no registry)`);
    console.log(`berth:  ${berthVersion} (${BERTH}, --root ${berthRoot})`);
    console.log(`podman: ${podmanVersion}${hasPodman ? `, storage driver ${podmanDriver}, --runtime runc (${runcVersion}), --cgroup-manager cgroupfs, --events-backend none,` : ''}`);
    if (hasPodman) console.log('        --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 (root here lacks CAP_SYS_RESOURCE), --cgroup-parent ' + PODMAN_CGROUP);
    if (docker) {
      console.log(`docker: dockerd ${docker.version} (private, with a private containerd: ${must('containerd', ['--version']).trim().split(' ').slice(-2).join(' ')}), storage driver ${docker.driver}, client ${docker.cmd[0]}`);
      console.log(`        --bridge=none --iptables=false --cgroup-parent=${DOCKER_CGROUP}`);
    } else console.log(`docker: NOT MEASURED: ${dockerWhy}`);
    for (const n of notes) console.log(`NOTE: ${n}`);
    console.log('every engine: --network none, --pull never; temp dir ' + base);

    const podmanRun = hasPodman ? [...podmanCmd, 'run', '--pull=never', '--network', 'none', '--cgroup-parent', PODMAN_CGROUP, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'] : undefined;
    const engines = [
      { key: 'berth', name: 'berth', isBerth: true, cmd: berth, run: [...berth, 'run', '--pull', 'never', '--network', 'none'], rm: [...berth, 'rm', '-f'], env: undefined },
      hasPodman && { key: 'podman', name: 'podman', cmd: podmanCmd, run: podmanRun, rm: [...podmanCmd, 'rm', '-f', '-t', '0'], env: podmanEnv },
      docker && { key: 'docker', name: 'docker', cmd: docker.cmd, run: [...docker.cmd, 'run', '--pull', 'never', '--network', 'none'], rm: [...docker.cmd, 'rm', '-f'], env: docker.env },
    ].filter(Boolean);
    const listAll = (e) => must(e.cmd[0], [...e.cmd.slice(1), 'ps', '-a', '-q', '--no-trunc'], { env: e.env }).split('\n').filter(Boolean);

    // ---- 1. run --rm busybox true, interleaved
    console.log(`\n1. \`run --rm --network none busybox true\`: ${opts.runs} rounds, interleaved, order rotated each round, 1 warm-up round dropped`);
    const cases = {};
    for (const e of engines) cases[e.key] = () => timed(e.key, `${e.name} run`, e.run[0], [...e.run.slice(1), '--rm', IMAGE, 'true'], e.env);
    cases.nodeStart = () => timed('nodeStart', "node -e ''", NODE, ['-e', '']);
    cases.berthVersion = () => timed('berthVersion', 'berth --version', berth[0], [...berth.slice(1), '--version']);
    cases.berthPs = () => timed('berthPs', 'berth ps -a', berth[0], [...berth.slice(1), 'ps', '-a']);
    // the launcher (bin/berth is a sh script) apart from the bundle: node dist/berth.cjs with the launcher's compile cache
    const distEnv = { ...process.env };
    if (!distEnv.NODE_COMPILE_CACHE) distEnv.NODE_COMPILE_CACHE = join(REPO, 'build/node-compile-cache');
    cases.distVersion = () => timed('distVersion', 'node dist/berth.cjs --version', NODE, [BERTH_DIST, '--root', berthRoot, '--version'], distEnv);
    const order = Object.keys(cases);
    const samples = Object.fromEntries(order.map((k) => [k, []]));
    for (let i = 0; i <= opts.runs; i++) {
      for (let j = 0; j < order.length; j++) {
        const key = order[(i + j) % order.length];
        const ms = cases[key]();
        if (i > 0) samples[key].push(ms);
        await tick();
        checkInterrupt();
      }
      if (process.stderr.isTTY) process.stderr.write(`\r  round ${i}/${opts.runs}`);
    }
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    for (const e of engines) {
      const left = listAll(e);
      if (left.length) {
        console.log(`  WARNING: ${e.name} kept ${left.length} container(s) after run --rm: ${left.map((id) => id.slice(0, 12)).join(' ')}`);
        if (e.key === 'berth') left.forEach((id) => berthIds.add(id));
      }
    }
    const med = Object.fromEntries(order.map((k) => [k, median(samples[k])]));
    table(
      ['engine', 'median ms', 'p90 ms', 'min ms', 'x podman', 'x docker'],
      engines.map((e) => [`${e.name} run --rm`, fmt(med[e.key]), fmt(p90(samples[e.key])), fmt(Math.min(...samples[e.key])), ratio(med[e.key], med.podman), ratio(med[e.key], med.docker)]),
    );
    for (const k of order) {
      const lines = stderrSummary([readLog(k)]);
      if (lines.length) console.log(`  NOTE: ${k} wrote to stderr (exit 0):\n    ${lines.join('\n    ')}`);
    }
    console.log('\n  where berth run --rm goes (medians, same rounds):');
    table(
      ['  step', 'median ms', 'added ms'],
      [
        ["  (a) node -e '' (Node start)", fmt(med.nodeStart), fmt(med.nodeStart)],
        ['  (b) bin/berth --version (sh launcher + CLI start + bundle load)', fmt(med.berthVersion), signed(med.berthVersion - med.nodeStart)],
        ['      of which node dist/berth.cjs --version (no launcher)', fmt(med.distVersion), `launcher ${fmt(med.berthVersion - med.distVersion)}`],
        ['  (c) bin/berth ps -a (+ database open, list)', fmt(med.berthPs), signed(med.berthPs - med.berthVersion)],
        ['  (d) bin/berth run --rm busybox true (whole run)', fmt(med.berth), signed(med.berth - med.berthPs)],
      ],
    );
    await tick();
    checkInterrupt();

    // ---- 2. idle memory per running container
    console.log('\n2. idle memory per running container (`run -d --network none busybox sleep 1000`, measured 1 s after start)');
    const memRows = [];
    const mem = {};
    for (const e of engines) {
      const name = `${TAG}-mem`;
      const id = must(e.run[0], [...e.run.slice(1), '-d', '--name', name, IMAGE, 'sleep', '1000'], { env: e.env }).trim().split('\n').pop();
      if (e.key === 'berth') berthIds.add(id);
    }
    await sleep(1000);
    for (const e of engines) {
      const name = `${TAG}-mem`;
      const pid = Number(must(e.cmd[0], [...e.cmd.slice(1), 'inspect', '-f', '{{.State.Pid}}', name], { env: e.env }).trim());
      if (!pid) fail(`${e.name} inspect: no pid for ${name}`);
      const { ppid } = procStatus(pid);
      const parent = procStatus(ppid);
      const m = memOf(ppid);
      mem[e.key] = m;
      memRows.push([e.name, `${parent.name} (pid ${ppid})`, m.rss, m.pss]);
    }
    if (docker) {
      for (const d of [docker.dockerd, docker.containerd]) {
        try {
          const m = memOf(d.pid);
          memRows.push([`docker (shared daemon)`, `${procStatus(d.pid).name} (pid ${d.pid})`, m.rss, m.pss]);
        } catch {}
      }
    }
    table(['engine', 'process watching the container', 'RSS kB', 'PSS kB'], memRows);
    for (const e of engines) {
      const r = quiet(e.rm[0], [...e.rm.slice(1), `${TAG}-mem`], { env: e.env });
      if (r.status !== 0) console.log(`  WARNING: ${e.name} rm -f ${TAG}-mem: ${(r.stderr || '').trim()}`);
    }
    if (mem.berth) {
      const rssOk = mem.berth.rss <= 1024;
      console.log(`  goal: berth monitor RSS <= 1024 kB: ${mem.berth.rss} kB -> ${rssOk ? 'MET' : 'NOT MET'}`);
      if (mem.podman) {
        console.log(`  goal: berth monitor PSS < conmon's: ${mem.berth.pss} vs ${mem.podman.pss} kB -> ${mem.berth.pss < mem.podman.pss ? 'MET' : 'NOT MET'}` +
          ` (berth/conmon: RSS ${ratio(mem.berth.rss, mem.podman.rss)}, PSS ${ratio(mem.berth.pss, mem.podman.pss)})`);
      }
    }
    await tick();
    checkInterrupt();

    // ---- 3. N containers at once, then one rm -f of all
    const N = opts.count;
    /** N `run -d … sleep 1000` at once through `e` (one process each), `whileUp` with all of them
     * running, then one `rm -f` of all; fails unless every one ran and none is left. */
    const bulkRound = async (e, prefix, whileUp) => {
      const names = Array.from({ length: N }, (_, i) => `${TAG}-${prefix}${i}`);
      const started = await concurrently(names.map((n) => [e.run[0], [...e.run.slice(1), '-d', '--name', n, IMAGE, 'sleep', '1000'], e.env]));
      const bad = started.results.map((r, i) => ({ ...r, name: names[i] })).filter((r) => r.status !== 0);
      if (e.isBerth) for (const r of started.results) if (/^[0-9a-f]{64}$/.test(r.out.trim())) berthIds.add(r.out.trim());
      const running = must(e.cmd[0], [...e.cmd.slice(1), 'ps', '-q'], { env: e.env }).split('\n').filter(Boolean).length;
      const during = whileUp?.();
      const t0 = performance.now();
      const rm = spawnSync(e.rm[0], [...e.rm.slice(1), ...names], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: e.env });
      const rmMs = performance.now() - t0;
      const left = listAll(e);
      if (bad.length) fail(`${e.name}: ${bad.length} of ${N} concurrent run -d failed, e.g. ${bad[0].name}: exit ${bad[0].status}: ${bad[0].err.trim().split('\n').slice(-3).join(' / ')}`);
      if (running !== N) fail(`${e.name}: ${running} containers running after ${N} run -d, expected ${N}`);
      if (rm.status !== 0) fail(`${e.name} rm -f of ${N}: exit ${rm.status ?? rm.signal}: ${(rm.stderr || '').trim().split('\n').slice(-3).join(' / ')}`);
      if (left.length) fail(`${e.name}: ${left.length} container(s) left after rm -f of all ${N}`);
      return { startMs: started.ms, rmMs, stderr: [...started.results.map((r) => r.err), rm.stderr ?? ''], during };
    };
    console.log(`\n3. ${N} \`run -d --network none busybox sleep 1000\` started at once (${N} processes), then one \`rm -f\` of all ${N};` +
      ` ${opts.bulkRuns} round(s), order rotated${hasPodman ? '; podman rm gets -t 0 (docker and berth rm -f kill at once; podman would stop with a 10 s timeout)' : ''}`);
    const bulk = Object.fromEntries(engines.map((e) => [e.key, { start: [], rm: [], total: [], stderr: [] }]));
    for (let round = 0; round < opts.bulkRuns; round++) {
      for (let j = 0; j < engines.length; j++) {
        const e = engines[(round + j) % engines.length];
        const r = await bulkRound(e, '');
        bulk[e.key].start.push(r.startMs);
        bulk[e.key].rm.push(r.rmMs);
        bulk[e.key].total.push(r.startMs + r.rmMs);
        bulk[e.key].stderr.push(...r.stderr);
        await tick();
        checkInterrupt();
      }
      if (process.stderr.isTTY) process.stderr.write(`\r  round ${round + 1}/${opts.bulkRuns}`);
    }
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    const bm = Object.fromEntries(engines.map((e) => [e.key, { start: median(bulk[e.key].start), rm: median(bulk[e.key].rm), total: median(bulk[e.key].total) }]));
    table(
      ['engine', `start ${N} ms`, `rm -f ${N} ms`, 'total ms', 'total x podman', 'total x docker'],
      engines.map((e) => [e.name, fmt(bm[e.key].start, 0), fmt(bm[e.key].rm, 0), fmt(bm[e.key].total, 0), ratio(bm[e.key].total, bm.podman?.total), ratio(bm[e.key].total, bm.docker?.total)]),
    );
    for (const e of engines) {
      const lines = stderrSummary(bulk[e.key].stderr);
      if (lines.length) console.log(`  NOTE: ${e.name} wrote to stderr (exit 0):\n    ${lines.join('\n    ')}`);
    }
    if (opts.bulkRuns > 1) console.log(`  (medians of ${opts.bulkRuns} rounds; totals per round: ${engines.map((e) => `${e.name} ${bulk[e.key].total.map((x) => fmt(x, 0)).join('/')}`).join(', ')})`);
    if (bm.podman) {
      const r = bm.berth.total / bm.podman.total;
      console.log(`  goal: berth total <= 0.5 x podman: ${fmt(bm.berth.total, 0)} vs ${fmt(bm.podman.total, 0)} ms = ${r.toFixed(2)}x -> ${r <= 0.5 ? 'MET' : 'NOT MET'}` +
        ` (start ${ratio(bm.berth.start, bm.podman.start)}x, rm ${ratio(bm.berth.rm, bm.podman.rm)}x)`);
    }

    // ---- 4. the Docker Engine API: one docker client against berth serve, dockerd, podman's service
    if (!opts.api) console.log('\n4. the Docker API: left out (--no-api)');
    else if (!dockerClient) console.log('\n4. the Docker API: NOT MEASURED: no docker client (/usr/bin/docker from docker.io)');
    else {
      const apiDir = join(base, 'api');
      mkdirSync(apiDir);
      const apiEnv = docker?.env ?? (() => {
        const env = { ...process.env, DOCKER_CONFIG: join(base, 'docker-config') };
        delete env.DOCKER_HOST;
        delete env.DOCKER_CONTEXT;
        return env;
      })();
      const servers = [];
      const berthSock = join(apiDir, 'berth.sock');
      const serve = startDaemon(BERTH, ['--root', berthRoot, 'serve', '-H', `unix://${berthSock}`], join(apiDir, 'berth-serve.log'));
      daemons.push(serve);
      servers.push({ key: 'berthApi', name: 'berth serve', sock: berthSock, daemon: serve, runExtra: [] });
      if (docker) servers.push({ key: 'dockerApi', name: 'dockerd', sock: docker.cmd[2].slice('unix://'.length), daemon: docker.dockerd, runExtra: [] });
      if (hasPodman) {
        const podSock = join(apiDir, 'podman.sock');
        const service = startDaemon(podmanCmd[0], [...podmanCmd.slice(1), 'system', 'service', '-t', '0', `unix://${podSock}`], join(apiDir, 'podman-service.log'), podmanEnv);
        daemons.push(service);
        servers.push({ key: 'podmanApi', name: 'podman system service', sock: podSock, daemon: service, runExtra: ['--cgroup-parent', PODMAN_CGROUP, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'] });
      }
      const apiEngines = [];
      for (const sv of servers) {
        const cmd = [dockerClient, '-H', `unix://${sv.sock}`];
        let up = false;
        for (let i = 0; i < 300 && !sv.daemon.exited && !up; i++) {
          up = quiet(cmd[0], [...cmd.slice(1), 'version', '--format', '{{.Server.APIVersion}}'], { env: apiEnv }).status === 0;
          if (!up) await sleep(100);
        }
        if (!up) {
          console.log(`  NOTE: ${sv.name} did not answer: left out`);
          continue;
        }
        apiEngines.push({ key: sv.key, name: `docker -> ${sv.name}`, isBerth: sv.key === 'berthApi', server: sv, cmd, run: [...cmd, 'run', '--pull', 'never', '--network', 'none', ...sv.runExtra], rm: [...cmd, 'rm', '-f'], env: apiEnv });
      }
      console.log(`\n4. the Docker API: client ${dockerClient} (${quiet(dockerClient, ['--version']).stdout?.trim()}) against ${apiEngines.map((e) => e.server.name).join(', ')}; every run --network none`);
      console.log(`4a. \`docker run --rm busybox true\`: ${opts.runs} rounds, interleaved, order rotated, 1 warm-up round dropped`);
      const apiSamples = Object.fromEntries(apiEngines.map((e) => [e.key, []]));
      for (let i = 0; i <= opts.runs; i++) {
        for (let j = 0; j < apiEngines.length; j++) {
          const e = apiEngines[(i + j) % apiEngines.length];
          const ms = timed(e.key, `${e.name} run`, e.run[0], [...e.run.slice(1), '--rm', IMAGE, 'true'], e.env);
          if (i > 0) apiSamples[e.key].push(ms);
          await tick();
          checkInterrupt();
        }
      }
      const am = Object.fromEntries(apiEngines.map((e) => [e.key, median(apiSamples[e.key])]));
      table(
        ['server', 'median ms', 'p90 ms', 'x dockerd', 'x podman service'],
        apiEngines.map((e) => [e.name, fmt(am[e.key]), fmt(p90(apiSamples[e.key])), ratio(am[e.key], am.dockerApi), ratio(am[e.key], am.podmanApi)]),
      );
      if (am.dockerApi) console.log(`  goal: through berth serve <= 0.5 x dockerd: ${fmt(am.berthApi)} vs ${fmt(am.dockerApi)} ms = ${ratio(am.berthApi, am.dockerApi)}x -> ${am.berthApi / am.dockerApi <= 0.5 ? 'MET' : 'NOT MET'}`);
      for (const e of apiEngines) {
        const left = listAll(e);
        if (left.length) console.log(`  WARNING: ${e.name} kept ${left.length} container(s) after run --rm`);
      }

      console.log(`4b. ${N} \`docker run -d busybox sleep 1000\` at once (${N} docker processes), the server's RSS with them running, then one \`docker rm -f\` of all; ${opts.bulkRuns} round(s)`);
      const apiBulk = Object.fromEntries(apiEngines.map((e) => [e.key, { start: [], rm: [], total: [], rss: [] }]));
      for (let round = 0; round < opts.bulkRuns; round++) {
        for (let j = 0; j < apiEngines.length; j++) {
          const e = apiEngines[(round + j) % apiEngines.length];
          const r = await bulkRound(e, 'api-', () => memOf(e.server.daemon.pid).rss);
          apiBulk[e.key].start.push(r.startMs);
          apiBulk[e.key].rm.push(r.rmMs);
          apiBulk[e.key].total.push(r.startMs + r.rmMs);
          apiBulk[e.key].rss.push(r.during);
          await tick();
          checkInterrupt();
        }
      }
      const ab = Object.fromEntries(apiEngines.map((e) => [e.key, { start: median(apiBulk[e.key].start), rm: median(apiBulk[e.key].rm), total: median(apiBulk[e.key].total), rss: median(apiBulk[e.key].rss) }]));
      table(
        ['server', `start ${N} ms`, `rm -f ${N} ms`, 'total ms', 'total x dockerd', `server RSS kB (${N} running)`],
        apiEngines.map((e) => [e.name, fmt(ab[e.key].start, 0), fmt(ab[e.key].rm, 0), fmt(ab[e.key].total, 0), ratio(ab[e.key].total, ab.dockerApi?.total), fmt(ab[e.key].rss, 0)]),
      );
      if (docker) {
        try {
          console.log(`  (dockerd's containerd: RSS ${memOf(docker.containerd.pid).rss} kB besides; berth and podman have a small monitor per container instead, see 2.)`);
        } catch {}
      }
      if (ab.dockerApi) {
        const r = ab.berthApi.start / ab.dockerApi.start;
        console.log(`  goal: ${N} concurrent docker run -d through berth serve <= 0.5 x dockerd: ${fmt(ab.berthApi.start, 0)} vs ${fmt(ab.dockerApi.start, 0)} ms = ${r.toFixed(2)}x -> ${r <= 0.5 ? 'MET' : 'NOT MET'}`);
        console.log(`  server RSS with ${N} running: berth serve ${fmt(ab.berthApi.rss, 0)} kB vs dockerd ${fmt(ab.dockerApi.rss, 0)} kB (${ratio(ab.berthApi.rss, ab.dockerApi.rss)}x)`);
      }
    }
  } finally {
    // containers first (the engines remove their own), then the daemons, mounts, dirs, cgroups
    for (const l of errLogs.values()) closeSync(l.fd);
    const leftovers = [];
    const cleanEngine = (name, cmd, env, rmArgs) => {
      const r = quiet(cmd[0], [...cmd.slice(1), 'ps', '-a', '-q', '--no-trunc'], { env });
      const ids = r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
      if (!ids.length) return;
      leftovers.push(`${ids.length} ${name} container(s) (removed now)`);
      if (name === 'berth') ids.forEach((id) => berthIds.add(id));
      const rm = quiet(cmd[0], [...cmd.slice(1), 'rm', ...rmArgs, ...ids], { env });
      if (rm.status !== 0) leftovers.push(`${name} rm -f failed: ${(rm.stderr || '').trim().split('\n').slice(-2).join(' / ')}`);
    };
    if (existsSync(join(berthRoot, 'berth.db'))) {
      cleanEngine('berth', berth, undefined, ['-f']);
      // a network's bridge and rules stay while the network exists: the root's go with it
      quiet(berth[0], [...berth.slice(1), 'network', 'prune', '-f']);
    }
    if (podmanCmd && existsSync(join(base, 'podman-root'))) cleanEngine('podman', podmanCmd, podmanEnv, ['-f', '-t', '0']);
    if (docker && !docker.dockerd.exited) cleanEngine('docker', docker.cmd, docker.env, ['-f']);
    for (const d of [...daemons].reverse()) await stopDaemon(d); // dockerd, then containerd
    // anything still holding the temp dir was started by this bench (through an engine): a
    // monitor, conmon or shim the engine failed to end. Reported, then ended by pid.
    const procs = processesUsing(base);
    for (const p of procs) {
      leftovers.push(`process ${p.pid} still using ${base}: ${p.cmdline} (SIGKILL)`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    if (procs.length) await sleep(500);
    const lazy = unmountUnder(base);
    if (lazy) leftovers.push(`${lazy} mount(s) under ${base} needed umount -l`);
    rmSync(base, { recursive: true, force: true });
    for (const rel of [PODMAN_CGROUP, DOCKER_CGROUP]) for (const l of removeCgroupTree(rel)) leftovers.push(`cgroup not removed: ${l}`);
    // berth's container cgroups: the ones of containers we know must be gone
    const berthLeaked = [...berthIds].filter((id) => berthCgroups(cgroupParent).has(id));
    if (berthLeaked.length) leftovers.push(`berth left the cgroup of ${berthLeaked.length} removed container(s), e.g. /${cgroupParent}/${berthLeaked[0]} (rmdir now)`);
    for (const id of berthLeaked) for (const l of removeCgroupTree(join('/', cgroupParent, id))) leftovers.push(`berth cgroup not removable: ${l}`);
    const newBerth = [...berthCgroups(cgroupParent)].filter((n) => !berthCgroupsBefore.has(n));
    if (newBerth.length) leftovers.push(`${newBerth.length} new cgroup(s) under /${cgroupParent} not removed (berth's --rm runs): ${newBerth.slice(0, 5).join(' ')}`);
    for (const l of removeCgroupTree(`/${cgroupParent}`)) leftovers.push(`berth cgroup not removable: ${l}`);
    for (const d of missingHostDirs) {
      try {
        rmdirSync(d);
      } catch {}
    }
    if (libpodLock) rmSync(libpodLock, { force: true });
    if (missingPodmanDirs.includes(PODMAN_BLOB_CACHE)) rmSync(PODMAN_BLOB_CACHE, { recursive: true, force: true });
    if (missingPodmanDirs.includes(dirname(PODMAN_BLOB_CACHE))) {
      try {
        rmdirSync(dirname(PODMAN_BLOB_CACHE));
      } catch {}
    }
    const mountsLeft = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(base));
    if (mountsLeft.length) leftovers.push(`mounts left:\n    ${mountsLeft.join('\n    ')}`);
    if (existsSync(base)) leftovers.push(`${base} not removed`);
    if (leftovers.length) console.log(`\nclean-up found (each a bug to look at):\n  ${leftovers.join('\n  ')}`);
  }
}

main().catch((err) => {
  console.error(`bench failed: ${err?.benchFailure ? err.message : (err?.stack ?? err)}`);
  process.exitCode = 1;
});
