#!/usr/bin/env node
// Image pull benchmark (issue 4, "Performance"): cold pull + unpack of a ~120 MB Debian image
// (debootstrap minbase, one gzip layer) from a local registry on 127.0.0.1, berth vs `podman pull`
// vs `skopeo copy` + `umoci unpack`, interleaved in one run, each tool into a fresh empty store
// every round. Also times the floors: `gzip -dc` of the layer, Node's zlib gunzip of it, GNU
// `tar -xf` of the uncompressed tar (the filesystem's cost of creating the files) and `tar -xzf`.
//
//   node_modules/node/bin/node bench/pull.mjs [--runs N] [--dir DIR] [--driver overlay|vfs]
//
// As root. N defaults to 5; DIR (where every store goes, one filesystem) defaults to /var/tmp.
// Everything it creates is named berth-bench-* and removed at the end, also on error.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { startRegistry } from '../test/fixtures/registry.ts';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
const NODE = process.execPath;
const BERTH = join(repoDir, 'bin/berth');
const CACHED_TAR = join(repoDir, 'test/fixtures/cache/debian-bookworm-minbase.tar');
const REPO_REF = 'bench/debian:minbase';

function parseArgs(argv) {
  const opts = { runs: 5, dir: '/var/tmp', driver: 'overlay' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') opts.runs = Number(argv[++i]);
    else if (a === '--dir') opts.dir = argv[++i];
    else if (a === '--driver') opts.driver = argv[++i];
    else if (a === '--only') opts.only = argv[++i].split(',');
    else if (a === '-h' || a === '--help') {
      console.log('usage: bench/pull.mjs [--runs N] [--dir DIR] [--driver overlay|vfs] [--only berth,berth-nofw,podman,skopeo,gzip,node,tar-xf,tar-xzf]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error('--runs wants a positive integer');
  return opts;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function sh(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (res.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${res.status ?? res.signal}\n${(res.stderr ?? '').slice(-3000)}${res.error ? `\n${res.error}` : ''}`);
  }
  return res;
}

/** CPU time (user + system, ms) of this process's waited-for children so far (/proc/self/stat cutime + cstime). */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

/** Run and time one command (wall clock and its CPU time, ms); stdout/stderr captured, non-zero exit throws. */
function timed(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const cpu0 = childrenCpuMs();
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuMs = childrenCpuMs() - cpu0;
  if (res.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${res.status ?? res.signal}\n${(res.stderr ?? '').slice(-3000)}${res.error ? `\n${res.error}` : ''}`);
  }
  return { ms, cpuMs, stdout: res.stdout ?? '' };
}

function sha256(buf) {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** Mount points under `base` (deepest first), from /proc/self/mountinfo. */
function mountsUnder(base) {
  const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => unescape(line.split(' ')[4]))
    .filter((mp) => mp === base || mp.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmount whatever podman left under `dir` (only there), then remove it. */
function removeTree(dir) {
  for (let pass = 0; pass < 5; pass++) {
    const mps = mountsUnder(dir);
    if (mps.length === 0) break;
    for (const mp of mps) spawnSync('umount', [mp], { stdio: 'ignore' });
  }
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => {
    if (s.length === 1) return s[0];
    const idx = p * (s.length - 1);
    const lo = Math.floor(idx);
    const hi = Math.ceil(idx);
    return s[lo] + (s[hi] - s[lo]) * (idx - lo);
  };
  return { median: q(0.5), p90: q(0.9), min: s[0], max: s[s.length - 1] };
}

/** The OCI layout to push: the Debian rootfs tar as one gzip layer (zlib level 6, like docker/skopeo). */
function writeLayout(layoutDir, tar) {
  const blobs = join(layoutDir, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data) => {
    const digest = sha256(data);
    writeFileSync(join(blobs, digest.slice(7)), data);
    return { digest, size: Buffer.byteLength(data) };
  };
  const gz = gzipSync(tar, { level: 6 });
  const layer = put(gz);
  const architecture = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }[arch()] ?? arch();
  const config = put(JSON.stringify({
    architecture,
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'debootstrap --variant=minbase bookworm' }],
  }));
  const manifest = put(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  }));
  writeFileSync(join(layoutDir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(layoutDir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'minbase' } }],
  }));
  return { layerPath: join(blobs, layer.digest.slice(7)), gzSize: gz.length };
}

const fmt = (ms) => (ms >= 10000 ? ms.toFixed(0) : ms.toFixed(1));
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run as root (podman, umoci unpack and berth keep owners and devices)');
  for (const cmd of ['skopeo', 'docker-registry', 'gzip', 'tar']) if (!have(cmd)) throw new Error(`${cmd} is missing`);
  const hasPodman = have('podman');
  const hasUmoci = have('umoci');
  if (!hasPodman) console.log('NOTE: podman is not installed: no podman column (apt-get install podman)');
  if (!hasUmoci) console.log('NOTE: umoci is not installed: skopeo copy is timed alone (apt-get install umoci)');

  const fsType = sh('stat', ['-f', '-c', '%T', opts.dir]).stdout.trim();
  const dfLine = sh('df', ['-h', '--output=source,fstype,size,avail,target', opts.dir]).stdout.trim().split('\n').pop();
  // podman (as root) makes netavark's /run/containers/networks whatever its flags say: removed at
  // the end when it was not there before (rmdir: only if empty)
  const podmanRunDirs = ['/run/containers/networks', '/run/containers'].filter((d) => !existsSync(d));
  // and its SHM lock file, likewise
  const libpodLock = existsSync('/dev/shm/libpod_lock') ? undefined : '/dev/shm/libpod_lock';
  const base = mkdtempSync(join(opts.dir, 'berth-bench-'));
  let registry;
  try {
    // 1. the image: cached debootstrap rootfs tar → OCI layout with one gzip layer
    let tarPath = CACHED_TAR;
    if (!existsSync(tarPath)) {
      console.log('building the Debian rootfs with debootstrap (scripts/make-debian-image.mjs; cached for next time)...');
      tarPath = join(base, 'rootfs.tar');
      sh(NODE, [join(repoDir, 'scripts/make-debian-image.mjs'), '--tar', tarPath], { stdio: ['ignore', 'inherit', 'inherit'] });
    }
    const tar = readFileSync(tarPath);
    const layoutDir = join(base, 'layout');
    const { layerPath, gzSize } = writeLayout(layoutDir, tar);
    const entries = sh('tar', ['-tf', tarPath]).stdout.split('\n').filter(Boolean).length;

    // 2. the registry, with the image pushed
    registry = await startRegistry({ auth: 'none' });
    const host = registry.host;
    await registry.push(`${layoutDir}:minbase`, REPO_REF);
    const ref = `${host}/${REPO_REF}`;

    const podmanVersion = hasPodman ? sh('podman', ['--version']).stdout.trim() : 'absent';
    const umociVersion = hasUmoci ? sh('umoci', ['--version']).stdout.trim() : 'absent';
    const skopeoVersion = sh('skopeo', ['--version']).stdout.trim();
    const berthVersion = sh(BERTH, ['--version']).stdout.trim();
    console.log(`image:    ${ref}  (1 gzip layer: ${mb(gzSize)} gz / ${mb(tar.length)} tar, ${entries} entries)`);
    console.log(`stores:   ${base}  on ${fsType} (${dfLine.replace(/\s+/g, ' ')})`);
    console.log(`tools:    ${berthVersion} | ${podmanVersion} | ${skopeoVersion} | ${umociVersion} | ${process.arch}, ${sh('nproc', []).stdout.trim()} CPUs`);

    let podmanDriver = opts.driver;
    let seq = 0;
    const fresh = (name) => {
      const d = join(base, `${name}-${++seq}`);
      mkdirSync(d);
      return d;
    };
    const podmanArgs = (dir) => ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'),
      '--network-config-dir', join(dir, 'net'),
      '--storage-driver', podmanDriver, '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
    const devnull = openSync('/dev/null', 'w');

    const berthCase = (name, short, env) => ({
      name,
      short,
      run: (dir) => {
        const root = join(dir, 'root');
        const { ms, cpuMs } = timed(BERTH, ['--root', root, '--insecure-registry', host, 'pull', '-q', ref], { env: { ...process.env, ...env } });
        const ids = sh(BERTH, ['--root', root, 'images', '-q']).stdout.split('\n').filter(Boolean);
        if (ids.length !== 1) throw new Error(`berth images -q after pull: ${JSON.stringify(ids)}`);
        return { total: ms, parts: { '  its CPU time (user+sys)': cpuMs } };
      },
    });
    // each case: run(dir) → { total, parts? }; it verifies its own result
    const cases = [
      berthCase('berth pull', 'berth', {}),
      // the unpacker without its file worker (two threads instead of three), to see whether it pays
      berthCase('berth pull (no file worker)', 'berth-nofw', { BERTH_UNPACK_FILE_WORKER: '0' }),
      hasPodman && {
        name: 'podman pull',
        run: (dir) => {
          const env = { ...process.env, TMPDIR: join(dir, 'tmp') };
          mkdirSync(env.TMPDIR);
          const { ms } = timed('podman', [...podmanArgs(dir), 'pull', '--tls-verify=false', '-q', ref], { env });
          const ids = sh('podman', [...podmanArgs(dir), 'images', '-q'], { env }).stdout.split('\n').filter(Boolean);
          if (ids.length !== 1) throw new Error(`podman images -q after pull: ${JSON.stringify(ids)}`);
          return { total: ms };
        },
      },
      {
        name: hasUmoci ? 'skopeo copy + umoci unpack' : 'skopeo copy (no umoci)',
        run: (dir) => {
          const env = { ...process.env, TMPDIR: dir };
          const copy = timed('skopeo', ['copy', '--insecure-policy', '--src-tls-verify=false', '-q', `docker://${ref}`, `oci:${join(dir, 'layout')}:minbase`], { env });
          if (!hasUmoci) return { total: copy.ms, parts: { 'skopeo copy': copy.ms } };
          const unpack = timed('umoci', ['unpack', '--image', `${join(dir, 'layout')}:minbase`, join(dir, 'bundle')], { env });
          if (!existsSync(join(dir, 'bundle/rootfs/usr/bin/bash'))) throw new Error('umoci unpack: no rootfs/usr/bin/bash');
          return { total: copy.ms + unpack.ms, parts: { '  skopeo copy': copy.ms, '  umoci unpack': unpack.ms } };
        },
      },
      {
        name: 'gzip -dc >/dev/null',
        floor: true,
        run: () => ({ total: timed('gzip', ['-dc', layerPath], { stdio: ['ignore', devnull, 'pipe'] }).ms }),
      },
      {
        name: 'node zlib gunzipSync',
        floor: true,
        run: () => {
          const data = readFileSync(layerPath);
          const t0 = process.hrtime.bigint();
          const out = gunzipSync(data, { chunkSize: 1 << 20 });
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          if (out.length !== tar.length) throw new Error('gunzip: wrong size');
          return { total: ms };
        },
      },
      {
        name: 'tar -xf (no gzip)',
        short: 'tar-xf',
        floor: true,
        run: (dir) => {
          const { ms } = timed('tar', ['-xf', tarPath, '-C', dir]);
          if (!existsSync(join(dir, 'usr/bin/bash'))) throw new Error('tar -xf: no usr/bin/bash');
          return { total: ms };
        },
      },
      {
        name: 'tar -xzf (GNU tar)',
        short: 'tar-xzf',
        floor: true,
        run: (dir) => {
          const { ms } = timed('tar', ['-xzf', layerPath, '-C', dir]);
          if (!existsSync(join(dir, 'usr/bin/bash'))) throw new Error('tar -xzf: no usr/bin/bash');
          return { total: ms };
        },
      },
    ].filter((c) => c && (opts.only === undefined || opts.only.includes(c.short ?? c.name.split(' ')[0])));
    if (cases.length === 0) throw new Error(`--only ${opts.only.join(',')}: no such case`);

    // podman: overlay here? (one untimed try; fall back to vfs and say so)
    if (hasPodman && podmanDriver === 'overlay') {
      const dir = fresh('podman-probe');
      try {
        sh('podman', [...podmanArgs(dir), 'info', '--format', '{{.Store.GraphDriverName}}']);
      } catch (err) {
        console.log(`NOTE: podman's overlay driver failed here, using vfs: ${String(err.message).split('\n').slice(0, 3).join(' / ')}`);
        podmanDriver = 'vfs';
      } finally {
        removeTree(dir);
      }
    }
    if (hasPodman) console.log(`podman storage driver: ${podmanDriver}`);

    const samples = new Map(cases.map((c) => [c.name, { total: [], parts: new Map() }]));
    // one warm-up round, dropped (page cache of the registry's blob, binaries, podman's first-use set-up)
    const rounds = opts.runs + 1;
    for (let r = 0; r < rounds; r++) {
      const order = cases.map((_, i) => cases[(i + r) % cases.length]);
      const line = [];
      for (const c of order) {
        const dir = fresh(c.name.split(' ')[0]);
        let res;
        try {
          res = c.run(dir);
        } finally {
          // the store stays until the end: removing ~6700 files right before the next case would
          // charge that case for it (ext4 without a journal scans past recently deleted inodes on
          // every allocation, which made each extraction 4-5x slower here). Only write-back is
          // settled between cases.
          spawnSync('sync');
        }
        if (r === 0) continue;
        const s = samples.get(c.name);
        s.total.push(res.total);
        for (const [k, v] of Object.entries(res.parts ?? {})) {
          if (!s.parts.has(k)) s.parts.set(k, []);
          s.parts.get(k).push(v);
        }
        line.push(`${c.short ?? c.name.split(' ')[0]} ${fmt(res.total)}`);
      }
      console.log(r === 0 ? 'round 0 (warm-up, dropped)' : `round ${r}: ${line.join(', ')} ms`);
    }
    closeSync(devnull);

    // table
    const med = (name) => stats(samples.get(name)?.total ?? [NaN]).median;
    const podmanMed = samples.has('podman pull') ? med('podman pull') : NaN;
    const skopeoName = cases.find((c) => c.name.startsWith('skopeo'))?.name ?? '';
    const skopeoMed = med(skopeoName);
    const ratio = (x, y) => (Number.isFinite(y) ? `${(x / y).toFixed(2)}×` : '—');
    const rows = [];
    for (const c of cases) {
      const s = samples.get(c.name);
      const st = stats(s.total);
      rows.push([c.name, fmt(st.median), fmt(st.p90), fmt(st.min), fmt(st.max), ratio(st.median, podmanMed), ratio(st.median, skopeoMed)]);
      for (const [k, v] of s.parts) {
        if (k.startsWith('  ')) {
          const sp = stats(v);
          const isCpu = k.includes('CPU'); // not a wall time: no ratio to the others' wall times
          rows.push([k, fmt(sp.median), fmt(sp.p90), fmt(sp.min), fmt(sp.max), isCpu ? '—' : ratio(sp.median, podmanMed), isCpu ? '—' : ratio(sp.median, skopeoMed)]);
        }
      }
    }
    const head = ['', 'median ms', 'p90 ms', 'min', 'max', '/ podman', '/ skopeo+umoci'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const pad = (r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
    console.log(`\n${opts.runs} rounds (+1 warm-up dropped), order rotated each round, fresh empty store per run, on ${opts.dir} (${fsType})`);
    console.log(pad(head));
    for (const r of rows) console.log(pad(r));
    const berthMed = med('berth pull');
    if (Number.isFinite(podmanMed) && Number.isFinite(berthMed)) {
      const ok = berthMed <= 0.25 * podmanMed;
      console.log(`\ngoal: berth pull ≤ 0.25 × podman pull: ${fmt(berthMed)} ms vs ${fmt(podmanMed)} ms = ${(berthMed / podmanMed).toFixed(3)}× → ${ok ? 'MET' : 'NOT MET'}` +
        ` (0.25 × podman = ${fmt(0.25 * podmanMed)} ms; podman driver ${podmanDriver})`);
    } else {
      console.log(`\ngoal: berth pull ≤ 0.25 × podman pull: NOT MEASURED (${hasPodman ? 'not both run' : 'podman missing'})`);
    }
  } finally {
    if (registry) await registry.stop();
    removeTree(base);
    for (const d of podmanRunDirs) {
      try {
        rmdirSync(d);
      } catch {}
    }
    if (libpodLock) rmSync(libpodLock, { force: true });
    const left = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('berth-bench'));
    if (left.length) console.log(`WARNING: berth-bench mounts left:\n${left.join('\n')}`);
  }
}

main().catch((err) => {
  console.error(`bench/pull: ${err?.stack ?? err}`);
  process.exitCode = 1;
});
