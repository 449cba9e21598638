#!/usr/bin/env node
// Builds the image debian:bookworm-minbase locally: `debootstrap --variant=minbase bookworm`
// from the Debian mirror apt uses here (first URIs of /etc/apt/sources.list*), reusing the
// .debs already in apt's cache (/var/cache/apt/archives), then `berth import` of the rootfs.
// The rootfs tar is kept in test/fixtures/cache/ so later runs (other roots, benches) import
// the very same image without debootstrapping again. Not run by setup.sh: tests and benches
// that need a real distribution run it. Needs root and network access to the mirror.
//
// Usage: node scripts/make-debian-image.mjs [--root DIR] [--tag REF] [--tar FILE] [--rebuild]
//   --root DIR   engine state directory (default $BERTH_ROOT or /var/lib/berth)
//   --tag REF    image name (default debian:bookworm-minbase)
//   --tar FILE   only write the rootfs tar to FILE; import nothing
//   --rebuild    debootstrap again even when the cached rootfs tar exists
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
const cacheDir = join(repoDir, 'test/fixtures/cache');
// v2: with procps (free, top, uptime of Debian's own: the limits view's tests read them)
const cachedTar = join(cacheDir, 'debian-bookworm-minbase-v2.tar');
const SUITE = 'bookworm';
const APT_CACHE = '/var/cache/apt/archives';

/** The Debian mirror apt uses here (deb822 .sources or one-line .list files). */
export function aptMirror() {
  const files = ['/etc/apt/sources.list', ...readdirSafe('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))]
    .filter((f) => /\.(list|sources)$/.test(f) && existsSync(f));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const uris = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
        const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
        if (uris && suites.includes(SUITE)) return uris;
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m && m[2] === SUITE) return m[1];
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

function readdirSafe(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with status ${res.status ?? res.signal}`);
  return res;
}

/** debootstrap a minbase bookworm and tar it (numeric owners, xattrs) to `tarPath`. */
export function buildDebianRootfs(tarPath) {
  const work = mkdtempSync(join(dirname(tarPath), '.berth-debian-'));
  try {
    const rootfs = join(work, 'rootfs');
    const mirror = aptMirror();
    const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
    run('debootstrap', ['--variant=minbase', '--include=procps', `--arch=${arch}`, `--cache-dir=${APT_CACHE}`, SUITE, rootfs, mirror]);
    // what a container image does not need
    for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const name of readdirSafe(join(rootfs, dir))) {
        if (name.endsWith('.deb') || (dir.endsWith('lists') && name !== 'partial' && name !== 'lock')) rmSync(join(rootfs, dir, name), { force: true, recursive: true });
      }
    }
    rmSync(join(rootfs, 'debootstrap'), { recursive: true, force: true });
    const temp = `${tarPath}.tmp`;
    run('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', rootfs, '-cf', temp, '.']);
    renameSync(temp, tarPath);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** berth's CLI: the bundle when it is built (no type stripping: Node strips types with a wasm
 * compiler that crashes now and then under an emulated CPU, as in the cgroup v2 VM), else the source. */
function berthCli() {
  const bundle = join(repoDir, 'dist/berth.cjs');
  return existsSync(bundle) ? bundle : join(repoDir, 'src/bin/berth.ts');
}

function imageExists(opts) {
  const args = [berthCli()];
  if (opts.root) args.push('--root', opts.root);
  args.push('image', 'inspect', '-f', '{{.Id}}', opts.tag);
  return spawnSync(process.execPath, args, { stdio: 'ignore' }).status === 0;
}

async function main(argv) {
  const opts = { tag: `debian:${SUITE}-minbase`, rebuild: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--root' || arg === '--tag' || arg === '--tar') opts[arg.slice(2)] = argv[++i];
    else if (arg === '--rebuild') opts.rebuild = true;
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: make-debian-image.mjs [--root DIR] [--tag REF] [--tar FILE] [--rebuild]');
      return 0;
    } else {
      console.error(`make-debian-image: unknown argument ${arg}`);
      return 2;
    }
  }
  if (process.getuid?.() !== 0) {
    console.error('make-debian-image: run as root (debootstrap needs it)');
    return 1;
  }
  if (!opts.tar && !opts.rebuild && existsSync(cachedTar) && imageExists(opts)) {
    console.log(`make-debian-image: ${opts.tag} is there already`);
    return 0;
  }
  mkdirSync(cacheDir, { recursive: true });
  if (opts.rebuild || !existsSync(cachedTar)) buildDebianRootfs(cachedTar);
  if (opts.tar) {
    copyFileSync(cachedTar, opts.tar);
    return 0;
  }
  const args = [berthCli()];
  if (opts.root) args.push('--root', opts.root);
  args.push('import', '--message', `debootstrap --variant=minbase ${SUITE}`,
    '--change', 'CMD ["bash"]',
    '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    cachedTar, opts.tag);
  // created = when the rootfs was built: every import of the cached tar is the same image ID
  const created = String(Math.floor(statSync(cachedTar).mtimeMs / 1000));
  const res = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: created } });
  if (res.status !== 0) return res.status ?? 1;
  console.log(`make-debian-image: ${opts.tag} is ${res.stdout.trim()}`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
