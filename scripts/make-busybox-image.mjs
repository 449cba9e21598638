#!/usr/bin/env node
// Builds the image busybox:latest locally, with no registry, from Debian's busybox-static:
// a rootfs with /bin/busybox and a symlink per applet (`busybox --list`), /etc/passwd and
// /etc/group, and the usual empty directories, as one tar that `berth import` turns into a
// one-layer linux image with CMD ["sh"]. Reproducible (every time the same image ID, taken
// from the busybox binary's mtime), so running it again changes nothing.
//
// Usage: node scripts/make-busybox-image.mjs [--root DIR] [--tag NAME:TAG] [--tar FILE]
//   --root DIR   engine state directory (default $BERTH_ROOT or /var/lib/berth)
//   --tag REF    image name (default busybox:latest)
//   --tar FILE   only write the rootfs tar to FILE; import nothing
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { writeTarStream } from '../src/image/archive/tar-write.ts';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
export const BUSYBOX_PATH = '/bin/busybox';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;

const DIRS = [
  ['bin', 0o755], ['dev', 0o755], ['etc', 0o755], ['home', 0o755], ['proc', 0o755], ['root', 0o700],
  ['sys', 0o755], ['tmp', 0o1777], ['usr', 0o755], ['usr/bin', 0o755], ['usr/sbin', 0o755], ['var', 0o755],
  ['var/spool', 0o755], ['var/spool/mail', 0o755], ['var/www', 0o755],
];

/** Where the busybox binary is, its version and its mtime (the image's creation time). */
export function busyboxInfo(path = BUSYBOX_PATH) {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`${path} not found: install Debian's busybox-static (apt-get install busybox-static)`);
  }
  let version = '';
  try {
    version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'busybox-static'], { encoding: 'utf8' }).trim();
  } catch {
    // not from a Debian package: no version label
  }
  return { path, mtime: Math.floor(st.mtimeMs / 1000), size: st.size, version };
}

/** The applets this busybox has (`busybox --list`). */
export function busyboxApplets(path = BUSYBOX_PATH) {
  return execFileSync(path, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox' && !a.includes('/'));
}

/** The rootfs as tar entries (see writeTarStream). */
export function busyboxRootfsEntries(path = BUSYBOX_PATH) {
  const { mtime } = busyboxInfo(path);
  const data = readFileSync(path);
  const entries = DIRS.map(([name, mode]) => ({ name, type: 'dir', mode, mtime }));
  entries.push({ name: 'bin/busybox', type: 'file', mode: 0o755, mtime, body: data, size: data.length });
  for (const applet of busyboxApplets(path)) entries.push({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox', mode: 0o777, mtime });
  for (const [name, text] of [['etc/passwd', PASSWD], ['etc/group', GROUP]]) {
    const body = Buffer.from(text);
    entries.push({ name, type: 'file', mode: 0o644, mtime, body, size: body.length });
  }
  return entries;
}

/** Write the busybox rootfs tar to `tarPath`. */
export async function writeBusyboxRootfs(tarPath, busyboxPath = BUSYBOX_PATH) {
  await pipeline(Readable.from(writeTarStream(busyboxRootfsEntries(busyboxPath)), { objectMode: false }), createWriteStream(tarPath));
}

function imagePlatform() {
  const arch = { x64: 'amd64', arm64: 'arm64', arm: 'arm/v7', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', ia32: '386' }[process.arch] ?? process.arch;
  return `linux/${arch}`;
}

/** The `berth import` changes that make the image behave like docker's busybox. */
export function busyboxChanges(version) {
  const changes = ['CMD ["sh"]', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  if (version) changes.push(`LABEL org.opencontainers.image.version="${version}" org.opencontainers.image.source="debian busybox-static"`);
  return changes;
}

async function main(argv) {
  const opts = { tag: 'busybox:latest' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--root' || arg === '--tag' || arg === '--tar') opts[arg.slice(2)] = argv[++i];
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: make-busybox-image.mjs [--root DIR] [--tag NAME:TAG] [--tar FILE]');
      return 0;
    } else {
      console.error(`make-busybox-image: unknown argument ${arg}`);
      return 2;
    }
  }
  const info = busyboxInfo();
  if (opts.tar) {
    await writeBusyboxRootfs(opts.tar);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'berth-busybox-'));
  try {
    const tarPath = join(dir, 'rootfs.tar');
    await writeBusyboxRootfs(tarPath);
    // the bundle when it is built (no type stripping, which is flaky under emulated CPUs)
    const bundle = join(repoDir, 'dist/berth.cjs');
    const args = [existsSync(bundle) ? bundle : join(repoDir, 'src/bin/berth.ts')];
    if (opts.root) args.push('--root', opts.root);
    args.push('import', '--platform', imagePlatform(), '--message', `busybox-static ${info.version}`.trim());
    for (const change of busyboxChanges(info.version)) args.push('--change', change);
    args.push(tarPath, opts.tag);
    const res = spawnSync(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      env: { ...process.env, SOURCE_DATE_EPOCH: String(info.mtime) },
    });
    if (res.status !== 0) return res.status ?? 1;
    console.log(`make-busybox-image: ${opts.tag} is ${res.stdout.trim()}`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
