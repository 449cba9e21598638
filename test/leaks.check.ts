/**
 * Runs after every other test (scripts/test.mjs runs it last): the suite must leave no
 * mount, cgroup, network namespace, process, state dir or temp dir of berth behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const skip = process.getuid?.() === 0 ? false : 'needs root';

function findCgroups(dir: string, depth: number, out: string[]): void {
  if (depth < 0) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'process_api') continue;
    const path = join(dir, entry.name);
    if (entry.name.includes('berth')) out.push(path);
    findCgroups(path, depth - 1, out);
  }
}

describe('after the suite', { skip }, () => {
  it('leaves no mount of berth', () => {
    const left = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('berth'));
    assert.deepEqual(left, []);
  });

  it('leaves no cgroup of berth in any hierarchy', () => {
    const found: string[] = [];
    findCgroups('/sys/fs/cgroup', 3, found);
    assert.deepEqual(found, []);
  });

  it('leaves no berth-init or container process running', () => {
    const left: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (comm.includes('berth-ini') && state !== 'Z' && Number(pid) !== process.ppid) {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (!cmd.includes('reap')) left.push(`${pid} ${cmd.replaceAll('\0', ' ')}`);
        }
      } catch {
        // gone meanwhile
      }
    }
    assert.deepEqual(left, []);
  });

  it('leaves no runtime state dir or temp dir of the tests', () => {
    const states = readdirSync('/run').filter((n) => n.startsWith('berth-test-'));
    const temps = readdirSync(tmpdir()).filter((n) => n.startsWith('berth-test-'));
    assert.deepEqual([...states, ...temps], []);
  });

  it('leaves no network namespace or veth of berth', () => {
    const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.includes('berth')) : [];
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => /berth|veth/i.test(l));
    assert.deepEqual([...netns, ...links], []);
  });
});
