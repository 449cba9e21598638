#!/usr/bin/env node
// Network benchmark: berth's container networking against podman (netavark) and dockerd, in one
// interleaved run, with the same busybox image in all three (berth's busybox:latest, saved and
// loaded into the others; no registry):
//
//   1. `run --rm busybox true` on each engine's default bridge network (no --network flag),
//      interleaved rounds (order rotated, 1 warm-up round dropped); `--network none` beside it
//      for berth and podman, to show what the network costs;
//   2. TCP throughput with iperf3 (the host's /usr/bin/iperf3 and its libraries bound read-only
//      into the busybox container): (a) container -> host, (b) container -> container on the
//      default network, (c) host -> container through a published port (`-p HOSTPORT:5201`),
//      to 127.0.0.1 and to the bridge's gateway address (a host address the bench made);
//   3. N containers (default 50) started concurrently with `run -d --network NET busybox sleep
//      1000` on one user network, all addresses checked distinct, then one `rm -f` of all N.
//
//   node_modules/node/bin/node bench/network.mjs [--runs N] [--count N] [--bulk-runs N]
//       [--iperf-runs N] [--iperf-time S] [--no-docker] [--no-iperf]
//
// As root. podman runs with the netavark backend (a private containers.conf through
// CONTAINERS_CONF: network_backend="netavark", a private network_config_dir whose default network
// has a bridge and subnet of its own). docker: a private dockerd with a private containerd whose
// default bridge is one the bench makes, with --iptables=false --ip-masq=false --ip-forward=false
// (it never touches the host's firewall; -p goes through docker-proxy). Every store, socket and
// state dir is under one temp dir named berth-bench-network-*; all of it, every container,
// network, bridge, daemon, cgroup and the iptables chains netavark adds are removed at the end,
// also on error.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(REPO, 'node_modules/node/bin/node');
const BERTH = join(REPO, 'bin/berth');
const BERTH_DIST = join(REPO, 'dist/berth.cjs');
const IMAGE = 'busybox:latest';
const TAG = `berth-bench-${process.pid}`;
const PODMAN_CGROUP = `/${TAG}-podman`;
const DOCKER_CGROUP = `/${TAG}-docker`;
// interface names (<= 15 characters) of the bridges the bench makes or names
const PODMAN_BRIDGE = `bbp${process.pid}`;
const DOCKER_BRIDGE = `bbd${process.pid}`;
// dirs podman, containerd and dockerd make outside their roots whatever their flags say: removed at
// the end (rmdir: only when empty) when they were not there before
const HOST_DIRS = ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker', '/run/containers', '/run/netns'];
// netavark's run dir (ipam.db, aardvark-dns's config): podman 4.3 has no option to move it
const NETAVARK_RUN = '/run/containers/networks';
const LIBPOD_LOCK = '/dev/shm/libpod_lock';
const PODMAN_BLOB_CACHE = '/var/lib/containers/cache';
const IPERF = '/usr/bin/iperf3';

function parseArgs(argv) {
  const opts = { runs: 10, count: 50, bulkRuns: 3, iperfRuns: 5, iperfTime: 3, docker: true, iperf: true };
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
    else if (flag === '--iperf-runs') opts.iperfRuns = int(flag, value());
    else if (flag === '--iperf-time') opts.iperfTime = int(flag, value());
    else if (flag === '--no-docker') opts.docker = false;
    else if (flag === '--no-iperf') opts.iperf = false;
    else if (flag === '-h' || flag === '--help') {
      console.log('usage: node bench/network.mjs [--runs N (10)] [--count N (50)] [--bulk-runs N (3)] [--iperf-runs N (5)] [--iperf-time S (3)] [--no-docker] [--no-iperf]');
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

/** berth's hash of a state root (src/common/random.ts fnv1a64): its nft table, bridges and cgroup parent are named by it. */
function fnv1a64(text) {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** What berth names after a (non-default) state root: nft table, bridge prefix, cgroup parent. */
function berthNames(root) {
  const hash = fnv1a64(root);
  return { root, table: `berth-${hash.slice(0, 12)}`, bridgePrefix: `berth${hash.slice(0, 6)}-`, cgroupParent: `berth-${hash.slice(0, 12)}` };
}

/** Container cgroups under berth's cgroup parent of this root, in every hierarchy. */
function berthCgroups(parent) {
  const names = new Set();
  for (const h of ['', ...readdirSync('/sys/fs/cgroup')]) {
    try {
      for (const e of readdirSync(join('/sys/fs/cgroup', h, parent), { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
    } catch {}
  }
  return names;
}

/** aardvark-dns servers whose --config is `dir`. */
const aardvarksOf = (dir) => pidsWith(`aardvark-dns --config ${dir} `);

/** A daemon in its own process group (a ^C at the terminal reaches the bench, which stops it in order). */
function startDaemon(cmd, args, logPath) {
  const fd = openSync(logPath, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true });
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

// ---- addresses, host firewall and interfaces

const ipToInt = (ip) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
/** [first, last] address (as integers) of a CIDR. */
function cidrRange(cidr) {
  const [ip, p] = cidr.split('/');
  const prefix = p === undefined ? 32 : Number(p);
  const size = 2 ** (32 - prefix);
  const first = Math.floor(ipToInt(ip) / size) * size;
  return [first, first + size - 1];
}

/** The IPv4 networks the host uses (routes in every table, addresses). */
function hostNetworks() {
  const nets = [];
  for (const args of [['-4', 'route', 'show', 'table', 'all'], ['-4', '-o', 'addr']]) {
    const out = quiet('ip', args).stdout ?? '';
    for (const m of out.matchAll(/\b(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)\b/g)) if (!m[1].startsWith('0.')) nets.push(m[1]);
  }
  return nets;
}

/** A /24 of `${prefix}.X.0/24` that overlaps nothing the host routes, and none of `taken`. */
function freeSubnet(prefix, taken = []) {
  const used = [...hostNetworks(), ...taken].map(cidrRange);
  for (let x = 1 + (process.pid % 200); x < 1 + (process.pid % 200) + 254; x++) {
    const cidr = `${prefix}.${x % 254 + 1}.0/24`;
    const [a, b] = cidrRange(cidr);
    if (!used.some(([c, d]) => a <= d && c <= b)) return cidr;
  }
  fail(`no free /24 in ${prefix}.0.0/16`);
}
const gatewayOf = (cidr) => cidr.replace(/\.0\/24$/, '.1');

function nftTables() {
  return new Set((quiet('nft', ['list', 'tables']).stdout ?? '').split('\n').map((l) => l.trim()).filter(Boolean));
}

/** iptables (nft backend) chains per table, e.g. { nat: Set { 'NETAVARK-HOSTPORT-DNAT', … } }. */
function iptChains() {
  const out = {};
  for (const t of ['nat', 'filter']) {
    const r = quiet('iptables-save', ['-t', t]);
    out[t] = new Set(r.status === 0 ? [...r.stdout.matchAll(/^:(\S+)/gm)].map((m) => m[1]) : []);
  }
  return out;
}

/**
 * Removes what netavark added to the host's iptables (nft backend) during the bench: its chains
 * that were not there before and the rules that jump to them; the tables `ip nat` / `ip filter`
 * themselves when the bench's run made them and nothing but netavark's is left in them.
 */
function cleanNetavarkFirewall(tablesBefore, chainsBefore, leftovers) {
  const builtin = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
  for (const t of ['nat', 'filter']) {
    const r = quiet('iptables-save', ['-t', t]);
    if (r.status !== 0) continue;
    const ours = [...r.stdout.matchAll(/^:(\S+)/gm)].map((m) => m[1]).filter((c) => /^NETAVARK/.test(c) && !chainsBefore[t].has(c));
    if (ours.length) {
      // the jumps to them first (iptables -D with the rule as iptables-save prints it)
      for (const line of r.stdout.split('\n')) {
        const m = line.match(/^-A (\S+) (.*)$/);
        if (!m || !ours.some((c) => new RegExp(`-j ${c.replace(/[-]/g, '\\-')}(\\s|$)`).test(m[2]))) continue;
        if (ours.includes(m[1])) continue; // inside a chain of ours: goes with the flush
        const args = ['-t', t, '-D', m[1], ...m[2].match(/"[^"]*"|\S+/g).map((a) => a.replace(/^"(.*)"$/, '$1'))];
        const d = quiet('iptables', args);
        if (d.status !== 0) leftovers.push(`iptables ${args.join(' ')}: ${(d.stderr || '').trim()}`);
      }
      for (const c of ours) quiet('iptables', ['-t', t, '-F', c]);
      for (const c of ours) {
        const x = quiet('iptables', ['-t', t, '-X', c]);
        if (x.status !== 0) leftovers.push(`iptables -t ${t} -X ${c}: ${(x.stderr || '').trim()}`);
      }
    }
    if (!tablesBefore.has(`table ip ${t}`) && nftTables().has(`table ip ${t}`)) {
      const rest = quiet('iptables-save', ['-t', t]).stdout ?? '';
      const chains = [...rest.matchAll(/^:(\S+)/gm)].map((m) => m[1]);
      const rules = rest.split('\n').filter((l) => l.startsWith('-A '));
      if (!rules.length && chains.every((c) => builtin.has(c))) quiet('nft', ['delete', 'table', 'ip', t]);
      else leftovers.push(`table ip ${t} (made during the bench) not removed: it holds ${rules.length} rule(s) not netavark's`);
    }
  }
}

const links = () => new Set((quiet('ip', ['-o', 'link']).stdout ?? '').split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).filter(Boolean));

/** Pids of running processes whose command line contains `needle`. */
function pidsWith(needle) {
  const found = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(needle)) found.push({ pid: Number(e), cmdline: cmdline.trim().slice(0, 160) });
    } catch {}
  }
  return found;
}

// ---- iperf3

/** `-v SRC:DST:ro` for iperf3 and every library ldd names (bound where the loader looks for them). */
function iperfBinds() {
  const paths = [IPERF, ...[...must('ldd', [IPERF]).matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1])];
  return [...new Set(paths)].flatMap((p) => ['-v', `${realpathSync(p)}:${p}:ro`]);
}

/** Received bits/s of one iperf3 -J run, or throws with iperf3's error. */
function iperfResult(stdout, what) {
  let j;
  try {
    j = JSON.parse(stdout.slice(stdout.indexOf('{')));
  } catch {
    fail(`${what}: no iperf3 JSON in the output: ${stdout.trim().slice(0, 300)}`);
  }
  if (j.error) fail(`${what}: iperf3: ${j.error}`);
  const bps = j.end?.sum_received?.bits_per_second;
  if (!Number.isFinite(bps)) fail(`${what}: no end.sum_received in iperf3's JSON`);
  return bps;
}

/** Runs an iperf3 client (a container or the host's); retried while the server is not up yet or busy. */
async function iperfClient(what, cmd, args, env) {
  let last;
  for (let attempt = 0; attempt < 6; attempt++) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 120_000, maxBuffer: 16 << 20 });
    if (r.status === 0) return iperfResult(r.stdout, what);
    last = `exit ${r.status ?? r.signal}: ${(r.stdout.match(/"error":\s*"([^"]*)"/)?.[1] ?? '') || (r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' / ')}`;
    if (!/refused|busy|unable to (connect|send)|reset/i.test(last)) break;
    await sleep(1000);
  }
  fail(`${what}: \`${cmd} ${args.join(' ').slice(0, 300)}\` failed: ${last}`);
}

/** Start a private containerd and a dockerd on it (its default bridge: `bridge`, made by the bench; no iptables, no ip_forward, docker-proxy for -p), all under `dir`; returns the docker handle or why it cannot run. */
async function startDocker(dir, daemons, client, bridge) {
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
    `--bridge=${bridge}`, '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--ip-forward=false', '--userland-proxy=true',
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

const gbit = (bps) => bps / 1e9;

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

  // the host as it is before: what the bench finds made afterwards is its own to remove
  const missingHostDirs = HOST_DIRS.filter((d) => !existsSync(d));
  const netavarkRunMissing = !existsSync(NETAVARK_RUN);
  const libpodLock = existsSync(LIBPOD_LOCK) ? undefined : LIBPOD_LOCK;
  const missingPodmanDirs = [PODMAN_BLOB_CACHE, dirname(PODMAN_BLOB_CACHE)].filter((d) => !existsSync(d));
  const tablesBefore = nftTables();
  const chainsBefore = iptChains();
  const linksBefore = links();
  const ipForwardBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const aardvarkBefore = new Set(pidsWith('aardvark-dns').map((p) => p.pid));
  const base = mkdtempSync(join(tmpdir(), 'berth-bench-network-'));
  const daemons = [];
  const helpers = []; // the host's iperf3 server
  let docker;
  let podmanCmd;
  let podmanEnv;
  let dockerBridgeMade = false;
  const berthRoot = join(base, 'berth-root');
  const bn = berthNames(berthRoot);
  const berth = [BERTH, '--root', berthRoot];
  const netName = `${TAG}-net`;
  const notes = [];
  const summary = [];

  try {
    logDir = join(base, 'logs');
    mkdirSync(logDir);

    // ---- set-up (untimed): the image in all three stores, the networks' subnets
    must(NODE, [join(REPO, 'scripts/make-busybox-image.mjs'), '--root', berthRoot]);
    const tar = join(base, 'busybox.tar');
    must(berth[0], [...berth.slice(1), 'save', IMAGE, '-o', tar]);
    const berthVersion = must(berth[0], [...berth.slice(1), '--version']).trim();
    const podmanSubnet = freeSubnet('10.89');
    const dockerSubnet = freeSubnet('10.90', [podmanSubnet]);
    const podmanUserSubnet = freeSubnet('10.91', [podmanSubnet, dockerSubnet]);
    const dockerUserSubnet = freeSubnet('10.92', [podmanSubnet, dockerSubnet, podmanUserSubnet]);

    let podmanDriver = 'overlay';
    let podmanVersion = 'absent';
    if (hasPodman) {
      for (const d of ['podman-tmp', 'podman-net', 'podman-tmpfiles', 'runc']) mkdirSync(join(base, d));
      // netavark instead of podman 4.3's default CNI; the default network (no --network flag) is
      // one of ours: its own bridge name and a free subnet (podman0 / 10.88.0.0/16 may be someone's)
      writeFileSync(join(base, 'containers.conf'), [
        '[network]',
        'network_backend = "netavark"',
        `network_config_dir = ${JSON.stringify(join(base, 'podman-net'))}`,
        `default_network = ${JSON.stringify(TAG)}`,
        '',
      ].join('\n'));
      writeFileSync(join(base, 'podman-net', `${TAG}.json`), JSON.stringify({
        name: TAG, id: randomBytes(32).toString('hex'), driver: 'bridge', network_interface: PODMAN_BRIDGE, created: new Date().toISOString(),
        subnets: [{ subnet: podmanSubnet, gateway: gatewayOf(podmanSubnet) }], ipv6_enabled: false, internal: false, dns_enabled: false,
        ipam_options: { driver: 'host-local' },
      }, null, 2));
      // podman sets TMPDIR=/var/tmp for itself (and conmon, and its cleanup command) unless given one
      podmanEnv = { ...process.env, TMPDIR: join(base, 'podman-tmpfiles'), CONTAINERS_CONF: join(base, 'containers.conf') };
      const podmanArgs = (driver) => ['podman', '--root', join(base, 'podman-root'), '--runroot', join(base, 'podman-runroot'), '--tmpdir', join(base, 'podman-tmp'),
        '--network-config-dir', join(base, 'podman-net'), '--storage-driver', driver, '--events-backend', 'none', '--cgroup-manager', 'cgroupfs',
        '--runtime', 'runc', '--runtime-flag', `root=${join(base, 'runc')}`];
      const probe = quiet('podman', [...podmanArgs('overlay').slice(1), 'info', '--format', '{{.Store.GraphDriverName}} {{.Host.NetworkBackend}}'], { env: podmanEnv });
      if (probe.status !== 0) {
        notes.push(`podman's overlay driver failed here, using vfs: ${(probe.stderr || '').trim().split('\n').slice(-2).join(' / ')}`);
        podmanDriver = 'vfs';
        unmountUnder(join(base, 'podman-root'));
        rmSync(join(base, 'podman-root'), { recursive: true, force: true });
        rmSync(join(base, 'podman-runroot'), { recursive: true, force: true });
      }
      podmanCmd = podmanArgs(podmanDriver);
      const backend = must(podmanCmd[0], [...podmanCmd.slice(1), 'info', '--format', '{{.Host.NetworkBackend}}'], { env: podmanEnv }).trim();
      if (backend !== 'netavark') fail(`podman's network backend is ${backend}, not netavark, despite CONTAINERS_CONF`);
      // podman load writes the host's blob-info cache (/var/lib/containers/cache, whatever --root
      // says) and a temp copy in /var/tmp: in a private mount namespace both are dirs of ours
      const binds = [];
      for (const [host, mine] of [[PODMAN_BLOB_CACHE, 'podman-cache'], ['/var/tmp', 'podman-vartmp']]) {
        if (!existsSync(host) || base.startsWith(`${host}/`)) continue;
        mkdirSync(join(base, mine));
        binds.push(join(base, mine), host);
      }
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
        // docker's default bridge: one of ours (dockerd would make docker0 otherwise)
        must('ip', ['link', 'add', DOCKER_BRIDGE, 'type', 'bridge']);
        dockerBridgeMade = true;
        must('ip', ['addr', 'add', `${gatewayOf(dockerSubnet)}/24`, 'dev', DOCKER_BRIDGE]);
        must('ip', ['link', 'set', DOCKER_BRIDGE, 'up']);
        r = await startDocker(join(base, 'docker'), daemons, dockerClient, DOCKER_BRIDGE);
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

    const hasIperf = opts.iperf && existsSync(IPERF);
    const runcVersion = have('runc') ? must('runc', ['--version']).split('\n')[0] : 'absent';
    console.log(`berth network bench, ${new Date().toISOString()}; node ${process.version}; ${cpus().length} CPUs; Linux ${must('uname', ['-r']).trim()}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    console.log(`image: ${IMAGE} made by scripts/make-busybox-image.mjs, \`berth save\`d and loaded into podman and docker (no registry)`);
    console.log(`berth:  ${berthVersion} (${BERTH}, --root ${berthRoot})`);
    if (hasPodman) {
      console.log(`podman: ${podmanVersion}, netavark ${must('/usr/lib/podman/netavark', ['--version']).trim().split(' ').pop()} (CONTAINERS_CONF, network_config_dir in the temp dir), default network ${TAG} (bridge ${PODMAN_BRIDGE}, ${podmanSubnet}),`);
      console.log(`        storage driver ${podmanDriver}, --runtime runc (${runcVersion}), --cgroup-manager cgroupfs, --events-backend none, --ulimit nofile=1024:1024 --ulimit nproc=1024:1024, --cgroup-parent ${PODMAN_CGROUP}`);
    } else console.log('podman: NOT MEASURED (not installed)');
    if (docker) {
      console.log(`docker: dockerd ${docker.version} (private, with a private containerd), storage driver ${docker.driver}, default bridge ${DOCKER_BRIDGE} (${dockerSubnet}, made here),`);
      console.log(`        --iptables=false --ip-masq=false --ip-forward=false (no NAT, no firewall rules: -p goes through docker-proxy), --cgroup-parent=${DOCKER_CGROUP}`);
    } else console.log(`docker: NOT MEASURED: ${dockerWhy}`);
    for (const n of notes) console.log(`NOTE: ${n}`);
    console.log(`every engine: --pull never; temp dir ${base}`);

    const podmanRunBase = hasPodman ? [...podmanCmd, 'run', '--pull=never', '--cgroup-parent', PODMAN_CGROUP, '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'] : undefined;
    const engines = [
      { key: 'berth', name: 'berth', cmd: berth, run: [...berth, 'run', '--pull', 'never'], rm: [...berth, 'rm', '-f'], env: undefined },
      hasPodman && { key: 'podman', name: 'podman', cmd: podmanCmd, run: podmanRunBase, rm: [...podmanCmd, 'rm', '-f', '-t', '0'], env: podmanEnv, gw: gatewayOf(podmanSubnet) },
      docker && { key: 'docker', name: 'docker', cmd: docker.cmd, run: [...docker.cmd, 'run', '--pull', 'never'], rm: [...docker.cmd, 'rm', '-f'], env: docker.env, gw: gatewayOf(dockerSubnet) },
    ].filter(Boolean);
    const E = Object.fromEntries(engines.map((e) => [e.key, e]));
    const listAll = (e) => must(e.cmd[0], [...e.cmd.slice(1), 'ps', '-a', '-q', '--no-trunc'], { env: e.env }).split('\n').filter(Boolean);
    const addSummary = (what, unit, vals, goal, digits = 1) =>
      summary.push([what, ...engines.map((e) => `${fmt(vals[e.key], digits)}${unit}`), ratio(vals.berth, vals.podman), ratio(vals.berth, vals.docker), goal]);

    // ---- 1. run --rm busybox true on the default bridge, interleaved
    console.log(`\n1. \`run --rm busybox true\` on each engine's default bridge network (no --network flag): ${opts.runs} rounds, interleaved, order rotated each round, 1 warm-up round dropped;` +
      ' `--network none` beside it for berth and podman');
    const cases = {};
    for (const e of engines) cases[e.key] = () => timed(e.key, `${e.name} run`, e.run[0], [...e.run.slice(1), '--rm', IMAGE, 'true'], e.env);
    for (const e of engines.filter((x) => x.key !== 'docker')) cases[`${e.key}None`] = () => timed(`${e.key}None`, `${e.name} run --network none`, e.run[0], [...e.run.slice(1), '--rm', '--network', 'none', IMAGE, 'true'], e.env);
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
      }
    }
    const med = Object.fromEntries(order.map((k) => [k, median(samples[k])]));
    table(
      ['case', 'median ms', 'p90 ms', 'min ms', 'x podman', 'x docker'],
      [
        ...engines.map((e) => [`${e.name} run --rm (default bridge)`, fmt(med[e.key]), fmt(p90(samples[e.key])), fmt(Math.min(...samples[e.key])), ratio(med[e.key], med.podman), ratio(med[e.key], med.docker)]),
        ...engines.filter((e) => samples[`${e.key}None`]).map((e) => [`${e.name} run --rm --network none`, fmt(med[`${e.key}None`]), fmt(p90(samples[`${e.key}None`])), fmt(Math.min(...samples[`${e.key}None`])), ratio(med[`${e.key}None`], med.podmanNone), '']),
      ],
    );
    console.log(`  the network's cost (default bridge - none): ${engines.filter((e) => samples[`${e.key}None`]).map((e) => `${e.name} ${fmt(med[e.key] - med[`${e.key}None`])} ms`).join(', ')}`);
    for (const k of order) {
      const lines = stderrSummary([readLog(k)]);
      if (lines.length) console.log(`  NOTE: ${k} wrote to stderr (exit 0):\n    ${lines.join('\n    ')}`);
    }
    if (med.podman) {
      const r = med.berth / med.podman;
      console.log(`  goal: berth <= 0.3 x podman (netavark): ${fmt(med.berth)} vs ${fmt(med.podman)} ms = ${r.toFixed(2)}x -> ${r <= 0.3 ? 'MET' : 'NOT MET'}`);
    }
    addSummary('run --rm true, default bridge (median)', ' ms', Object.fromEntries(engines.map((e) => [e.key, med[e.key]])), med.podman ? `<= 0.3: ${med.berth / med.podman <= 0.3 ? 'met' : 'NOT met'}` : '');

    // berth's default network as it is now (made by the first run)
    const berthNet = JSON.parse(must(berth[0], [...berth.slice(1), 'network', 'inspect', 'bridge']))[0];
    E.berth.gw = berthNet.IPAM.Config[0].Gateway;
    if (!berthNet.Options['com.docker.network.bridge.name'].startsWith(bn.bridgePrefix)) notes.push(`berth's bridge ${berthNet.Options['com.docker.network.bridge.name']} is not named ${bn.bridgePrefix}*: the clean-up checks may miss what berth leaves`);
    await tick();
    checkInterrupt();

    // ---- 2. iperf3
    if (!hasIperf) console.log(`\n2. iperf3: skipped (${opts.iperf ? `${IPERF} is not installed (apt-get install iperf3)` : '--no-iperf'})`);
    else {
      const binds = iperfBinds();
      const listening = quiet('ss', ['-Hltn']).stdout ?? '';
      let port0 = 42000 + (process.pid % 500) * 8;
      while (new RegExp(`:(${port0}|${port0 + 1}|${port0 + 2}|${port0 + 3})\\s`).test(listening)) port0 += 8;
      const hostPort = Object.fromEntries(engines.map((e, i) => [e.key, port0 + 1 + i]));
      const T = String(opts.iperfTime);
      console.log(`\n2. TCP throughput, iperf3 ${must(IPERF, ['--version']).split('\n')[0].split(' ')[1]} (-t ${T} -J, end.sum_received), ${opts.iperfRuns} round(s), engines and order rotated each round;`);
      console.log(`   in the containers: ${IPERF} and its libraries (ldd) bound read-only at the same paths into busybox (${binds.length / 2} binds)`);
      console.log(`   (a) container -> host: client in a \`run --rm\` container to a host iperf3 server (0.0.0.0:${port0}) at the bridge's gateway address`);
      console.log('   (b) container -> container: client in a `run --rm` container to a server container (`run -d … iperf3 -s`) on the same default network');
      console.log('   (c) host -> container: the host\'s iperf3 client to the server container\'s published port (`-p HOSTPORT:5201`), at 127.0.0.1 and at the bridge\'s gateway address');
      if (docker) console.log('   docker: its -p is docker-proxy (a userland proxy; --iptables=false), not DNAT');
      // the host's server (one test at a time; the rounds are sequential)
      const srvLog = join(base, 'iperf3-host.log');
      const hostSrv = startDaemon(IPERF, ['-s', '-p', String(port0)], srvLog);
      helpers.push(hostSrv);
      const srvName = `${TAG}-iperf`;
      const srvIp = {};
      for (const e of engines) {
        must(e.run[0], [...e.run.slice(1), '-d', '--name', srvName, '-p', `${hostPort[e.key]}:5201`, ...binds, IMAGE, 'iperf3', '-s'], { env: e.env });
        srvIp[e.key] = must(e.cmd[0], [...e.cmd.slice(1), 'inspect', '-f', '{{.NetworkSettings.IPAddress}}', srvName], { env: e.env }).trim();
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(srvIp[e.key])) fail(`${e.name}: the server container has no address (inspect: ${JSON.stringify(srvIp[e.key])})`);
      }
      await sleep(500);
      if (hostSrv.exited) fail(`the host's iperf3 server exited: ${tail(srvLog)}`);
      const icases = [
        ['a', 'container -> host', (e) => iperfClient(`${e.name} (a)`, e.run[0], [...e.run.slice(1), '--rm', ...binds, IMAGE, 'iperf3', '-c', e.gw, '-p', String(port0), '-t', T, '-J'], e.env)],
        ['b', 'container -> container', (e) => iperfClient(`${e.name} (b)`, e.run[0], [...e.run.slice(1), '--rm', ...binds, IMAGE, 'iperf3', '-c', srvIp[e.key], '-t', T, '-J'], e.env)],
        ['c', 'host -> published port, 127.0.0.1', (e) => iperfClient(`${e.name} (c)`, IPERF, ['-c', '127.0.0.1', '-p', String(hostPort[e.key]), '-t', T, '-J'])],
        ['cg', 'host -> published port, gateway addr', (e) => iperfClient(`${e.name} (c gw)`, IPERF, ['-c', e.gw, '-p', String(hostPort[e.key]), '-t', T, '-J'])],
      ];
      const bps = Object.fromEntries(icases.map(([k]) => [k, Object.fromEntries(engines.map((e) => [e.key, []]))]));
      for (let round = 0; round < opts.iperfRuns; round++) {
        for (let j = 0; j < engines.length; j++) {
          const e = engines[(round + j) % engines.length];
          for (let c = 0; c < icases.length; c++) {
            const [k, , f] = icases[(round + c) % icases.length];
            bps[k][e.key].push(await f(e));
            checkInterrupt();
          }
        }
        if (process.stderr.isTTY) process.stderr.write(`\r  round ${round + 1}/${opts.iperfRuns}`);
      }
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      const rows = [];
      for (const [k, what] of icases) {
        const m = Object.fromEntries(engines.map((e) => [e.key, gbit(median(bps[k][e.key]))]));
        rows.push([`(${k === 'cg' ? 'c' : k}) ${what}`, ...engines.map((e) => `${fmt(m[e.key], 2)} (${fmt(gbit(Math.min(...bps[k][e.key])), 1)}-${fmt(gbit(Math.max(...bps[k][e.key])), 1)})`), ratio(m.berth, m.podman), ratio(m.berth, m.docker)]);
        addSummary(`iperf3 (${k === 'cg' ? 'c' : k}) ${what}, Gbit/s`, '', m, m.podman ? `>= 0.95: ${m.berth / m.podman >= 0.95 ? 'met' : 'NOT met'}` : '', 2);
      }
      table(['case', ...engines.map((e) => `${e.name} Gbit/s (min-max)`), 'x podman', 'x docker'], rows);
      for (const e of engines) {
        const r = quiet(e.rm[0], [...e.rm.slice(1), srvName], { env: e.env });
        if (r.status !== 0) console.log(`  WARNING: ${e.name} rm -f ${srvName}: ${(r.stderr || '').trim()}`);
      }
      await stopDaemon(hostSrv, 5000);
    }
    await tick();
    checkInterrupt();

    // ---- 3. N containers at once on one user network, then one rm -f of all
    const N = opts.count;
    console.log(`\n3. ${N} \`run -d --network ${netName} busybox sleep 1000\` started at once (${N} processes) on one user network (\`network create\`, untimed), addresses checked` +
      ` distinct (inspect), then one \`rm -f\` of all ${N}; ${opts.bulkRuns} round(s), order rotated${hasPodman ? '; podman rm gets -t 0' : ''}`);
    for (const e of engines) {
      const extra = e.key === 'podman' ? ['--subnet', podmanUserSubnet] : e.key === 'docker' ? ['--subnet', dockerUserSubnet] : [];
      must(e.cmd[0], [...e.cmd.slice(1), 'network', 'create', ...extra, netName], { env: e.env });
      e.netMade = true;
    }
    console.log(`   subnets: berth its own choice, podman ${podmanUserSubnet} (dns_enabled: aardvark-dns), docker ${dockerUserSubnet}`);
    const bulk = Object.fromEntries(engines.map((e) => [e.key, { start: [], rm: [], total: [], stderr: [], failed: 0, errors: [], problems: [], dns: 0 }]));
    // DNS servers of the user network while its N containers run (berth: its aardvark dir; podman: netavark's)
    const dnsDir = { berth: join(bn.root, 'run', 'aardvark'), podman: join(NETAVARK_RUN, 'aardvark-dns') };
    for (let round = 0; round < opts.bulkRuns; round++) {
      for (let j = 0; j < engines.length; j++) {
        const e = engines[(round + j) % engines.length];
        const names = Array.from({ length: N }, (_, i) => `${TAG}-${i}`);
        const started = await concurrently(names.map((n) => [e.run[0], [...e.run.slice(1), '-d', '--network', netName, '--name', n, IMAGE, 'sleep', '1000'], e.env]));
        // a failed run -d is counted and shown (and the round's times kept, flagged), not hidden
        const bad = started.results.map((r, i) => ({ ...r, name: names[i] })).filter((r) => r.status !== 0);
        bulk[e.key].failed += bad.length;
        for (const b of bad) bulk[e.key].errors.push(`${b.name}: exit ${b.status}: ${b.err.trim().split('\n').slice(-2).join(' / ')}`);
        const okNames = names.filter((_, i) => started.results[i].status === 0);
        const running = must(e.cmd[0], [...e.cmd.slice(1), 'ps', '-q'], { env: e.env }).split('\n').filter(Boolean).length;
        if (running !== okNames.length) bulk[e.key].problems.push(`round ${round + 1}: ${running} running after ${okNames.length} successful run -d`);
        if (dnsDir[e.key]) bulk[e.key].dns = Math.max(bulk[e.key].dns, aardvarksOf(dnsDir[e.key]).length);
        const addrs = okNames.length
          ? must(e.cmd[0], [...e.cmd.slice(1), 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', ...okNames], { env: e.env }).split('\n').map((l) => l.trim()).filter(Boolean)
          : [];
        const distinct = new Set(addrs);
        if (addrs.length !== okNames.length || distinct.size !== okNames.length || addrs.some((a) => !/^\d+\.\d+\.\d+\.\d+$/.test(a))) {
          fail(`${e.name}: ${okNames.length} containers on ${netName} but ${distinct.size} distinct address(es) of ${addrs.length}: ${addrs.slice(0, 8).join(', ')}…`);
        }
        const t0 = performance.now();
        const rm = spawnSync(e.rm[0], [...e.rm.slice(1), ...okNames], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: e.env });
        const rmMs = performance.now() - t0;
        if (rm.status !== 0) fail(`${e.name} rm -f of ${okNames.length}: exit ${rm.status ?? rm.signal}: ${(rm.stderr || '').trim().split('\n').slice(-3).join(' / ')}`);
        const left = listAll(e);
        if (left.length) {
          // what a failed run -d left (a created container, as docker leaves one): removed untimed
          bulk[e.key].problems.push(`round ${round + 1}: ${left.length} container(s) left after the rm -f of the ${okNames.length} started (from failed run -d; removed untimed)`);
          const r2 = quiet(e.rm[0], [...e.rm.slice(1), ...left], { env: e.env });
          if (r2.status !== 0 || listAll(e).length) fail(`${e.name}: containers left after rm -f: ${(r2.stderr || '').trim()}`);
        }
        bulk[e.key].start.push(started.ms);
        bulk[e.key].rm.push(rmMs);
        bulk[e.key].total.push(started.ms + rmMs);
        bulk[e.key].stderr.push(...started.results.map((r) => r.err), rm.stderr ?? '');
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
    console.log(`  the addresses of the containers that started were distinct in every round, for every engine`);
    for (const e of engines) {
      const b = bulk[e.key];
      if (b.failed) console.log(`  FAILED: ${e.name}: ${b.failed} of ${N * opts.bulkRuns} run -d failed (their rounds' times are in the medians), e.g.\n    ${[...new Set(b.errors.map((x) => x.replace(/^\S+: /, '')))].slice(0, 3).join('\n    ')}`);
      for (const p of b.problems) console.log(`  PROBLEM: ${e.name}: ${p}`);
      if (dnsDir[e.key]) console.log(`  ${e.name}: aardvark-dns servers for the network's DNS while the ${N} ran: at most ${b.dns}${b.dns > 1 ? ' (more than one: a server per racing start, see the clean-up)' : ''}`);
    }
    for (const e of engines) {
      const lines = stderrSummary(bulk[e.key].stderr);
      if (lines.length) console.log(`  NOTE: ${e.name} wrote to stderr (failed runs included):\n    ${lines.join('\n    ')}`);
    }
    if (opts.bulkRuns > 1) console.log(`  (medians of ${opts.bulkRuns} rounds; start+rm per round: ${engines.map((e) => `${e.name} ${bulk[e.key].total.map((x) => fmt(x, 0)).join('/')}`).join(', ')})`);
    const pick = (f) => Object.fromEntries(engines.map((e) => [e.key, f(bm[e.key])]));
    addSummary(`${N} x run -d on a user network`, ' ms', pick((b) => b.start), '', 0);
    addSummary(`rm -f of the ${N}`, ' ms', pick((b) => b.rm), '', 0);
    const tot = pick((b) => b.total);
    const failedNote = engines.filter((e) => bulk[e.key].failed).map((e) => `${e.name} ${bulk[e.key].failed} run -d failed`).join(', ');
    addSummary(`total of part 3`, ' ms', tot, (tot.podman ? `<= 0.5: ${tot.berth / tot.podman <= 0.5 ? 'met' : 'NOT met'}` : '') + (failedNote ? ` (${failedNote})` : ''), 0);
    if (bm.podman) {
      const r = bm.berth.total / bm.podman.total;
      console.log(`  goal: berth total <= 0.5 x podman: ${fmt(bm.berth.total, 0)} vs ${fmt(bm.podman.total, 0)} ms = ${r.toFixed(2)}x -> ${r <= 0.5 ? 'MET' : 'NOT MET'}` +
        ` (start ${ratio(bm.berth.start, bm.podman.start)}x, rm ${ratio(bm.berth.rm, bm.podman.rm)}x)`);
    }

    console.log('\nsummary (medians)');
    table(['', ...engines.map((e) => e.name), 'berth/podman', 'berth/docker', 'goal'], summary);
  } finally {
    // the host's iperf3 server, containers (each engine removes its own), networks, daemons,
    // bridges, netavark's firewall chains, mounts, dirs, cgroups
    for (const l of errLogs.values()) closeSync(l.fd);
    const leftovers = [];
    for (const h of helpers) await stopDaemon(h, 5000);
    const cleanEngine = (name, cmd, env, rmArgs) => {
      const r = quiet(cmd[0], [...cmd.slice(1), 'ps', '-a', '-q', '--no-trunc'], { env });
      const ids = r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
      if (!ids.length) return;
      leftovers.push(`${ids.length} ${name} container(s) (removed now)`);
      const rm = quiet(cmd[0], [...cmd.slice(1), 'rm', ...rmArgs, ...ids], { env });
      if (rm.status !== 0) leftovers.push(`${name} rm -f failed: ${(rm.stderr || '').trim().split('\n').slice(-2).join(' / ')}`);
    };
    const berthDb = existsSync(join(berthRoot, 'berth.db'));
    if (berthDb) {
      cleanEngine('berth', berth, undefined, ['-f']);
      // berth keeps a network's bridge (and its nft table) while the network exists
      const p = quiet(berth[0], [...berth.slice(1), 'network', 'prune', '-f']);
      if (p.status !== 0) leftovers.push(`berth network prune -f failed: ${(p.stderr || '').trim().split('\n').slice(-2).join(' / ')}`);
    }
    if (podmanCmd && existsSync(join(base, 'podman-root'))) {
      cleanEngine('podman', podmanCmd, podmanEnv, ['-f', '-t', '0']);
      if (quiet(podmanCmd[0], [...podmanCmd.slice(1), 'network', 'exists', netName], { env: podmanEnv }).status === 0) {
        const r = quiet(podmanCmd[0], [...podmanCmd.slice(1), 'network', 'rm', '-f', netName], { env: podmanEnv });
        if (r.status !== 0) leftovers.push(`podman network rm ${netName}: ${(r.stderr || '').trim()}`);
      }
    }
    if (docker && !docker.dockerd.exited) {
      cleanEngine('docker', docker.cmd, docker.env, ['-f']);
      if (quiet(docker.cmd[0], [...docker.cmd.slice(1), 'network', 'inspect', netName], { env: docker.env }).status === 0) {
        const r = quiet(docker.cmd[0], [...docker.cmd.slice(1), 'network', 'rm', netName], { env: docker.env });
        if (r.status !== 0) leftovers.push(`docker network rm ${netName}: ${(r.stderr || '').trim()}`);
      }
    }
    for (const d of [...daemons].reverse()) await stopDaemon(d); // dockerd, then containerd
    if (dockerBridgeMade) quiet('ip', ['link', 'del', DOCKER_BRIDGE]);
    // processes still holding the temp dir, and aardvark-dns servers of our networks, were
    // started by this bench (through an engine): reported, then ended by pid
    const procs = processesUsing(base);
    if (netavarkRunMissing) for (const p of pidsWith(NETAVARK_RUN)) if (!aardvarkBefore.has(p.pid) && !procs.some((q) => q.pid === p.pid)) procs.push(p);
    for (const p of procs) {
      leftovers.push(`process ${p.pid} still running: ${p.cmdline} (SIGKILL)`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    if (procs.length) await sleep(500);
    // interfaces the engines left: podman's and docker's bridges, berth's bridges, any veth of ours
    const newLinks = [...links()].filter((l) => !linksBefore.has(l));
    for (const l of newLinks) {
      if (l === PODMAN_BRIDGE || l === DOCKER_BRIDGE || l.startsWith('br-') || l.startsWith(bn.bridgePrefix)) {
        leftovers.push(`interface ${l} left (deleted now)`);
        quiet('ip', ['link', 'del', l]);
      }
    }
    if (nftTables().has(`table ip ${bn.table}`)) {
      leftovers.push(`berth's nft table ip ${bn.table} left after network prune (deleted now)`);
      quiet('nft', ['delete', 'table', 'ip', bn.table]);
    }
    // netavark's shared chains and run dir: only when no other podman (a conmon not ours) runs
    // now, since another user's netavark may have started using them during the bench
    const otherPodman = pidsWith('conmon').filter((p) => !p.cmdline.includes(base) && /conmon\b/.test(p.cmdline.split(' ')[0]));
    if (otherPodman.length) {
      console.log(`\nNOTE: another podman is running (conmon pid ${otherPodman.map((p) => p.pid).join(' ')}): netavark's iptables chains and ${NETAVARK_RUN} left as they are`);
    } else {
      cleanNetavarkFirewall(tablesBefore, chainsBefore, leftovers);
      if (netavarkRunMissing) rmSync(NETAVARK_RUN, { recursive: true, force: true });
    }
    const lazy = unmountUnder(base);
    if (lazy) leftovers.push(`${lazy} mount(s) under ${base} needed umount -l`);
    rmSync(base, { recursive: true, force: true });
    for (const rel of [PODMAN_CGROUP, DOCKER_CGROUP]) for (const l of removeCgroupTree(rel)) leftovers.push(`cgroup not removed: ${l}`);
    // berth's cgroup parent of this root (/berth-<hash>): its container cgroups must be gone
    const berthLeaked = [...berthCgroups(bn.cgroupParent)];
    if (berthLeaked.length) leftovers.push(`berth left ${berthLeaked.length} container cgroup(s) under /${bn.cgroupParent}, e.g. ${berthLeaked[0]} (rmdir now)`);
    for (const l of removeCgroupTree(`/${bn.cgroupParent}`)) leftovers.push(`berth cgroup not removable: ${l}`);
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
    if (readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== ipForwardBefore) {
      notes.push(`net.ipv4.ip_forward was ${ipForwardBefore}, set back`);
      writeFileSync('/proc/sys/net/ipv4/ip_forward', ipForwardBefore);
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
