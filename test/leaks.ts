/**
 * What berth may leave behind, found on the real host: mounts, cgroups, berth-init processes
 * (however started: from build/berth-init, or from a sealed memfd, whose /proc/<pid>/exe reads
 * "/memfd:berth-init"), processes of containers in berth's cgroups, runtime state and temp dirs
 * of the tests, network namespaces, veths, bridges, nftables tables and DNS servers of test roots. test/leaks.check.ts asserts none is left after
 * the suite; test/integration/leaks.test.ts plants one of each and shows each is found.
 */
import { readFileSync, readdirSync, existsSync, readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Leaks {
  mounts: string[];
  cgroups: string[];
  processes: string[];
  dirs: string[];
  network: string[];
}

function findCgroups(dir: string, depth: number, out: string[]): void {
  if (depth < 0) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === 'process_api') continue;
    const path = join(dir, entry.name);
    if (entry.name.includes('berth')) out.push(path);
    findCgroups(path, depth - 1, out);
  }
}

/** pid → why it is one of berth's: its program is berth-init, or it lives in a cgroup of berth's. */
function berthProcesses(ignore: Set<number>): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (ignore.has(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        // a kernel thread, or gone
      }
      const isInit = exe.startsWith('/memfd:berth-init') || exe.endsWith('/berth-init') || exe.endsWith('/berth-init-static');
      // a DNS server of a test's state root (aardvark-dns --config <root>/run/aardvark)
      if (exe.endsWith('/aardvark-dns') && /berth-test-/.test(cmd)) {
        out.push(`${pid} ${exe} ${cmd}`);
        continue;
      }
      // the test runner's own reaper (berth-init reap -- node …) is not a leak
      if (isInit && !/\breap\b/.test(cmd)) {
        out.push(`${pid} ${exe} ${cmd}`);
        continue;
      }
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (/:\/[^\n]*berth/.test(cgroups)) out.push(`${pid} in a cgroup of berth: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function findLeaks(opts: { ignorePids?: number[] } = {}): Leaks {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('berth'));
  const cgroups: string[] = [];
  findCgroups('/sys/fs/cgroup', 3, cgroups);
  const ignore = new Set([process.pid, process.ppid, ...(opts.ignorePids ?? [])]);
  const processes = berthProcesses(ignore);
  const dirs = [
    ...readdirSync('/run').filter((n) => n.startsWith('berth-test-')).map((n) => join('/run', n)),
    ...readdirSync(tmpdir()).filter((n) => n.startsWith('berth-test-')).map((n) => join(tmpdir(), n)),
  ];
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.includes('berth')).map((n) => `netns ${n}`) : [];
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => /berth|veth/i.test(l));
  // the nftables tables of test roots (berth-<hash>; the default root's `berth` is not a test's)
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).split('\n').filter((l) => /\bberth-/.test(l)).map((l) => `nft ${l.trim()}`);
  return { mounts, cgroups, processes, dirs, network: [...netns, ...links, ...tables] };
}
