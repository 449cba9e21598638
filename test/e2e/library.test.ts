/**
 * berth as a library, from another Node project that installs it by path (`npm install
 * /path/to/berth`) and imports it by name: its types check under the consumer's own strict
 * tsconfig, and it runs, lists, logs and removes containers with no CLI in between.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRoot, repoDir } from '../fixtures/berth-cli.ts';

const skip = process.getuid?.() === 0 ? false : 'the library test runs containers: it needs root';
const node = join(repoDir, 'node_modules/node/bin/node');

const CONSUMER = `import { Engine, BerthError, type LogEntry, type RunSpec } from 'berth';
import { Writable } from 'node:stream';

const engine = new Engine({ root: process.argv[2]! });
try {
  const chunks: Buffer[] = [];
  const sink = new Writable({ write(chunk, _encoding, done) { chunks.push(Buffer.from(chunk)); done(); } });
  const spec: RunSpec = { image: 'busybox', name: 'from-library', command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] };
  const run = await engine.containers.run(spec, { streams: { stdout: sink, stderr: sink, tty: false } });
  const logs: LogEntry[] = [];
  for await (const entry of engine.containers.logs('from-library')) logs.push(entry);
  const listed = engine.containers.list({ all: true }).map((c) => c.Names[0]);
  const detached = await engine.containers.run({ image: 'busybox', command: ['sleep', '30'] }, { detach: true });
  const state = (await engine.containers.inspect(detached.record.id)) as { State: { Running: boolean } };
  await engine.containers.remove(detached.record.id, { force: true });
  const actions: string[] = [];
  for await (const e of engine.containers.events({ follow: false })) if (e.type === 'container') actions.push(e.action);
  await engine.containers.remove('from-library');
  let code = '';
  try {
    engine.containers.get('from-library');
  } catch (err) {
    if (err instanceof BerthError) code = err.code;
  }
  console.log(JSON.stringify({ exitCode: run.exitCode, output: Buffer.concat(chunks).toString(), logs: logs.map((l) => [l.stream, l.log]), listed, running: state.State.Running, actions, code }));
} finally {
  engine.close();
}
`;

describe('berth as a library', { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let project = '';
  before(() => {
    box = busyboxRoot('library');
    project = mkdtempSync(join(tmpdir(), 'berth-test-consumer-'));
  });
  after(() => {
    box?.remove();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('installs by path, type-checks under a strict consumer tsconfig, and runs containers', () => {
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', repoDir], { cwd: project, encoding: 'utf8' });
    assert.equal(install.status, 0, install.stderr);
    writeFileSync(join(project, 'main.ts'), CONSUMER);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2023', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(repoDir, 'node_modules/@types')] },
        include: ['main.ts'],
      }),
    );
    const tsc = spawnSync(node, [join(repoDir, 'node_modules/typescript/bin/tsc'), '-p', project], { encoding: 'utf8' });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    const run = spawnSync(node, [join(project, 'main.ts'), box.root], { cwd: project, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { exitCode: number; output: string; logs: string[][]; listed: string[]; running: boolean; actions: string[]; code: string };
    assert.equal(result.exitCode, 3);
    assert.equal(result.output, 'out\nerr\n');
    assert.deepEqual(result.logs, [['stdout', 'out\n'], ['stderr', 'err\n']]);
    assert.deepEqual(result.listed, ['/from-library']);
    assert.equal(result.running, true);
    assert.deepEqual(result.actions.slice(0, 3), ['create', 'start', 'die']);
    assert.ok(result.actions.includes('destroy'));
    assert.equal(result.code, 'NOT_FOUND');
  });
});
