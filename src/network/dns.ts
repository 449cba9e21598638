/**
 * Name resolution on user networks, podman's daemonless way: aardvark-dns (Debian's package,
 * the DNS server netavark uses) answers the names of the containers of each network on the
 * network's gateway address, and forwards everything else to the host's resolvers.
 *
 * Its configuration is a directory with one file per network: the first line is the address it
 * listens on, then one line per container (`ID IPV4 IPV6 NAME,ALIAS,…`). berth rewrites the file
 * of a network when a container joins or leaves it and sends SIGHUP; aardvark-dns starts on
 * demand (it puts itself in the background and writes `aardvark.pid`) and exits by itself when
 * a reload finds no network left. Callers serialize updates of one directory (berth holds the
 * records' lock): one server per directory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, signalProcess } from '../common/index.ts';

export const AARDVARK_CANDIDATES = ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns', '/usr/local/libexec/podman/aardvark-dns'];

export interface DnsEntry {
  id: string;
  ip: string;
  names: string[];
}

export function aardvarkBinary(): string | undefined {
  return AARDVARK_CANDIDATES.find((p) => existsSync(p));
}

/** The pid of the running aardvark-dns of this directory, if any. */
export function aardvarkPid(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, 'aardvark.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!(pid > 0)) return undefined;
  try {
    // only ever signal the process this directory's aardvark is (a pid can be reused)
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'aardvark-dns') return undefined;
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dir)) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

function networkFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f !== 'aardvark.pid' && !f.startsWith('.'));
  } catch {
    return [];
  }
}

/**
 * Writes (entries given) or removes (undefined) one network's file, then makes the server see
 * it: started when it is needed and not running, reloaded otherwise.
 */
export function updateDns(dir: string, network: string, gateway: string, entries: readonly DnsEntry[] | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, network);
  if (entries) {
    const lines = [gateway, ...entries.map((e) => `${e.id} ${e.ip}  ${e.names.join(',')}`)];
    // written aside and renamed into place: the server never reads half a file
    const tmp = join(dir, `.${network}.${process.pid}.tmp`);
    writeFileSync(tmp, lines.join('\n') + '\n');
    renameSync(tmp, file);
  } else {
    rmSync(file, { force: true });
  }
  const pid = aardvarkPid(dir);
  if (!networkFiles(dir).length) {
    // no network left: the server goes now (not at a reload that may find its directory gone)
    if (pid) stopServer(pid);
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  if (pid) {
    signalProcess(pid, 'SIGHUP');
    return;
  }
  const bin = aardvarkBinary();
  if (!bin) throw new BerthError('FAILED_PRECONDITION', 'name resolution on user networks needs aardvark-dns, which is not installed', { hint: 'apt-get install aardvark-dns (setup.sh does)' });
  const r = spawnSync(bin, ['--config', dir, '-p', '53', 'run'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new BerthError('INTERNAL', `aardvark-dns did not start: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`);
}

/** Ends a server berth started (SIGTERM), waiting a moment for it to go. */
function stopServer(pid: number): void {
  try {
    signalProcess(pid, 'SIGTERM');
  } catch {
    return;
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 100; i++) {
    let state = '';
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return; // ended; its parent (init) reaps it
    Atomics.wait(pause, 0, 0, 5);
  }
}

/** Stops the server of this directory and removes the directory (`system check`, teardown). */
export function stopDns(dir: string): void {
  const pid = aardvarkPid(dir);
  if (pid) stopServer(pid);
  rmSync(dir, { recursive: true, force: true });
}
