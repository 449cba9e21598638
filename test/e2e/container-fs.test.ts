/**
 * `berth diff`, `export` and `commit` end to end, as root, through the CLI: the changes of a
 * running and of a stopped container, export round-tripped through import, commit run again
 * (its change and its deletion, its history, `-c`), symlinks planted in the container exported
 * as symlinks with nothing of the host read, and bad input (a clear error, nothing created).
 * Every test removes what it made.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, busyboxRoot, containerDirs, ok } from '../fixtures/berth-cli.ts';

const skip = process.getuid?.() === 0 ? false : 'the container e2e tests need root';
const BERTH_BIN = join(import.meta.dirname, '../../bin/berth');

/** The entries of a tar file, as `tar tvf` lists them (type letter, name, link target). */
function tarList(path: string): Array<{ type: string; name: string; target: string }> {
  return execFileSync('tar', ['--numeric-owner', '-tvf', path], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^(.)\S+\s+\S+\s+\d+(?:,\s*\d+)?\s+\S+\s+\S+\s+(.*?)(?: -> (.*)| link to (.*))?$/.exec(line)!;
      return { type: m[1]!, name: m[2]!, target: m[3] ?? m[4] ?? '' };
    });
}

describe('berth diff, export, commit', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let root = '';
  let work = '';
  before(() => {
    box = busyboxRoot('fs');
    root = box.root;
    work = mkdtempSync(join(tmpdir(), 'berth-test-fs-work-'));
  });
  after(() => {
    box?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(root), 'no mount is left');
  });
  const images = () => ok(berth(root, ['images', '-q', '--no-trunc'])).split('\n').filter(Boolean).sort();

  /** A running container with a file added, one changed and one deleted. */
  function changedContainer(name: string): void {
    ok(berth(root, ['run', '-d', '--name', name, 'busybox', 'sleep', '300']));
    ok(berth(root, ['exec', name, 'sh', '-c', 'echo added > /added; echo changed >> /etc/passwd; rm /bin/ls; mkdir -p /dir/sub; echo deep > /dir/sub/f']));
  }

  it('diff lists what a running container added, changed and deleted, and again once stopped', () => {
    changedContainer('fs-diff');
    const expected = 'C /bin\nD /bin/ls\nA /added\nA /dir\nA /dir/sub\nA /dir/sub/f\nC /etc\nC /etc/passwd\n';
    const sorted = (text: string) => text.split('\n').filter(Boolean).sort().join('\n');
    const running = ok(berth(root, ['diff', 'fs-diff']));
    assert.equal(sorted(running), sorted(expected));
    assert.deepEqual(running.split('\n').filter(Boolean).map((l) => l.slice(2)), [...running.split('\n').filter(Boolean).map((l) => l.slice(2))].sort(), 'in walk order');
    ok(berth(root, ['stop', '-t', '0', 'fs-diff']));
    assert.equal(ok(berth(root, ['container', 'diff', 'fs-diff'])), running);
    ok(berth(root, ['rm', 'fs-diff']));
  });

  it('diff of a fresh container is empty (the runtime\'s own mountpoints are no change)', () => {
    ok(berth(root, ['run', '--name', 'fs-fresh', 'busybox', 'true']));
    assert.equal(ok(berth(root, ['diff', 'fs-fresh'])), '');
    ok(berth(root, ['rm', 'fs-fresh']));
  });

  it('export writes the merged filesystem, which import turns back into a runnable image', () => {
    changedContainer('fs-export');
    const tar = join(work, 'export.tar');
    ok(berth(root, ['export', '-o', tar, 'fs-export']));
    const names = tarList(tar).map((e) => e.name);
    assert.ok(names.includes('added') && names.includes('dir/sub/f') && names.includes('bin/busybox'));
    assert.ok(!names.includes('bin/ls'), 'a deleted file is not exported');
    assert.ok(!names.some((n) => n.includes('.wh.')), 'no whiteout is exported');
    const id = ok(berth(root, ['import', tar, 'fs/exported:1'])).trim();
    assert.equal(ok(berth(root, ['run', '--rm', 'fs/exported:1', 'cat', '/added', '/dir/sub/f'])), 'added\ndeep\n');
    assert.match(ok(berth(root, ['run', '--rm', 'fs/exported:1', 'tail', '-n', '1', '/etc/passwd'])), /^changed$/m);
    assert.notEqual(berth(root, ['run', '--rm', 'fs/exported:1', 'ls', '/bin/ls']).status, 0);
    // to stdout, the same bytes
    const piped = execFileSync(BERTH_BIN, ['--root', root, 'container', 'export', 'fs-export'], { maxBuffer: 1 << 28 });
    if (piped.length !== readFileSync(tar).length) {
      writeFileSync(join(work, 'piped.tar'), piped);
      assert.deepEqual(tarList(join(work, 'piped.tar')), tarList(tar), 'the same entries');
    }
    assert.equal(piped.length, readFileSync(tar).length);
    // also to a reader that stalls near the end: berth exits only once the pipe took it all
    // (Node queues writes to a full pipe, and exiting dropped that queue: the archive's end)
    const size = readFileSync(tar).length;
    const stalled = (args: string) => execFileSync('sh', ['-c', `"$0" --root "$1" ${args} | (head -c ${size - 100_000} >/dev/null; sleep 1; cat) | wc -c`, BERTH_BIN, root], { encoding: 'utf8' });
    assert.equal(stalled('export fs-export').trim(), '100000');
    const cpSize = execFileSync(BERTH_BIN, ['--root', root, 'cp', 'fs-export:/', '-'], { maxBuffer: 1 << 28 }).length;
    assert.equal(execFileSync('sh', ['-c', `"$0" --root "$1" cp fs-export:/ - | (head -c ${cpSize - 100_000} >/dev/null; sleep 1; cat) | wc -c`, BERTH_BIN, root], { encoding: 'utf8' }).trim(), '100000');
    ok(berth(root, ['rm', '-f', 'fs-export']));
    ok(berth(root, ['rmi', id]));
  });

  it('export stores a symlink the container planted as a symlink and reads nothing of the host', () => {
    ok(berth(root, ['run', '--name', 'fs-leak', 'busybox', 'sh', '-c', 'ln -s /etc/hostname /leak; ln -s / /hostroot; mkdir -p /x; ln -s /etc/shadow /x/shadow']));
    const tar = join(work, 'leak.tar');
    ok(berth(root, ['export', '-o', tar, 'fs-leak']));
    const entries = tarList(tar);
    assert.deepEqual(entries.find((e) => e.name === 'leak'), { type: 'l', name: 'leak', target: '/etc/hostname' });
    assert.deepEqual(entries.find((e) => e.name === 'hostroot'), { type: 'l', name: 'hostroot', target: '/' });
    assert.deepEqual(entries.find((e) => e.name === 'x/shadow'), { type: 'l', name: 'x/shadow', target: '/etc/shadow' });
    assert.ok(!entries.some((e) => e.name.startsWith('hostroot/')), 'nothing is exported below the symlink');
    const hostHostname = readFileSync('/etc/hostname');
    if (hostHostname.length > 3) assert.ok(!readFileSync(tar).includes(hostHostname), "the host's /etc/hostname is not in the archive");
    // commit keeps it a symlink too
    const id = ok(berth(root, ['commit', 'fs-leak'])).trim();
    assert.equal(ok(berth(root, ['run', '--rm', id, 'readlink', '/leak'])), '/etc/hostname\n');
    ok(berth(root, ['rm', 'fs-leak']));
    ok(berth(root, ['rmi', id]));
  });

  it('commit makes an image with the change and the deletion, in its history, with -c applied', () => {
    changedContainer('fs-commit');
    const before = images();
    const out = ok(berth(root, ['commit', '-a', 'Tester <t@example.com>', '-m', 'my change', '-c', 'CMD ["echo","x"]', '-c', 'ENV K=v', 'fs-commit', 'fs/committed:1']));
    const id = out.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok(berth(root, ['run', '--rm', 'fs/committed:1'])), 'x\n');
    assert.equal(ok(berth(root, ['run', '--rm', 'fs/committed:1', 'cat', '/added', '/dir/sub/f'])), 'added\ndeep\n');
    assert.equal(ok(berth(root, ['run', '--rm', 'fs/committed:1', 'sh', '-c', 'echo $K'])), 'v\n');
    const ls = berth(root, ['run', '--rm', 'fs/committed:1', 'ls', '/bin/ls']);
    assert.notEqual(ls.status, 0, 'the deleted file stays deleted');
    const history = ok(berth(root, ['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'fs/committed:1'])).split('\n').filter(Boolean);
    assert.equal(history.length, 2);
    assert.equal(history[0], 'sleep 300|my change');
    const inspect = JSON.parse(ok(berth(root, ['image', 'inspect', 'fs/committed:1'])))[0];
    assert.equal(inspect.Author, 'Tester <t@example.com>');
    assert.equal(inspect.RootFS.Layers.length, 2);
    assert.equal(ok(berth(root, ['inspect', '-f', '{{.State.Status}}', 'fs-commit'])).trim(), 'running', 'unpaused after the commit');
    ok(berth(root, ['rm', '-f', 'fs-commit']));
    assert.deepEqual(images(), [...before, id].sort());
    ok(berth(root, ['rmi', 'fs/committed:1']));
  });

  it('commit --pause=false of a stopped container works too', () => {
    ok(berth(root, ['run', '--name', 'fs-stopped', 'busybox', 'sh', '-c', 'rm -rf /var/www && mkdir /var/www && echo page > /var/www/index']));
    const id = ok(berth(root, ['container', 'commit', '--pause=false', 'fs-stopped'])).trim();
    assert.equal(ok(berth(root, ['run', '--rm', id, 'cat', '/var/www/index'])), 'page\n');
    ok(berth(root, ['rm', 'fs-stopped']));
    ok(berth(root, ['rmi', id]));
  });

  it('bad input gets a clear error and makes nothing', () => {
    const before = images();
    for (const args of [['diff', 'fs-nope'], ['export', '-o', join(work, 'nope.tar'), 'fs-nope'], ['commit', 'fs-nope']]) {
      const res = berth(root, args);
      assert.equal(res.status, 1, args.join(' '));
      assert.match(res.stderr, /No such container: fs-nope/);
    }
    assert.ok(!existsSync(join(work, 'nope.tar')));
    ok(berth(root, ['create', '--name', 'fs-bad', 'busybox']));
    const bad = berth(root, ['commit', '-c', 'FROM busybox', 'fs-bad']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /invalid --change "FROM busybox": FROM cannot be applied here/);
    const badRef = berth(root, ['commit', 'fs-bad', 'Bad:Name:x']);
    assert.notEqual(badRef.status, 0);
    assert.match(badRef.stderr, /invalid reference "Bad:Name:x"/);
    assert.deepEqual(images(), before, 'no image was made');
    assert.equal(existsSync(join(root, 'tmp')) ? execFileSync('ls', [join(root, 'tmp')], { encoding: 'utf8' }) : '', '', 'no staging is left');
    ok(berth(root, ['rm', 'fs-bad']));
    assert.deepEqual(containerDirs(root), []);
  });
});
