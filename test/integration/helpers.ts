/** Shared by the integration tests: a runtime rooted in its own state dir, and runs with captured output. */
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { before } from 'node:test';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Runtime } from '../../src/runtime/index.ts';
import { makeBundle, uniqueId, type TestBundle } from '../fixtures/bundle.ts';
import type { RuntimeConfig } from '../../src/oci/index.ts';

export const isRoot = process.getuid?.() === 0;
export const skipUnlessRoot = isRoot ? false : 'integration tests need root';

export interface Harness {
  runtime: Runtime;
  rootDir: string;
  bundles: TestBundle[];
  bundle(mutate?: (c: RuntimeConfig) => void): TestBundle;
  /** Runs a container to completion, returning its exit code and output. */
  run(mutate: (c: RuntimeConfig) => void, opts?: { id?: string }): Promise<{ exitCode: number; stdout: string; stderr: string; id: string }>;
  cleanup(): Promise<void>;
}

let harnesses = 0;

export function harness(): Harness {
  // made when the suite runs, not when it is declared: a suite that --test-name-pattern
  // filters out runs no hook, and would leave its root behind
  const rootDir = `/run/berth-test-root-${process.pid}-${++harnesses}-${randomBytes(3).toString('hex')}`;
  before(() => mkdirSync(rootDir, { mode: 0o700 }));
  const runtime = new Runtime({ root: rootDir });
  const bundles: TestBundle[] = [];
  const h: Harness = {
    runtime,
    rootDir,
    bundles,
    bundle(mutate) {
      const b = makeBundle(mutate);
      bundles.push(b);
      return b;
    },
    async run(mutate, opts = {}) {
      const b = h.bundle(mutate);
      const outDir = mkdtempSync(join(tmpdir(), 'berth-test-out-'));
      const outPath = join(outDir, 'stdout');
      const errPath = join(outDir, 'stderr');
      const stdout = openSync(outPath, 'w');
      const stderr = openSync(errPath, 'w');
      const stdin = openSync('/dev/null', 'r');
      const id = opts.id ?? uniqueId();
      try {
        const result = await runtime.run(id, { bundleDir: b.bundleDir, stdio: { stdin, stdout, stderr } });
        return { exitCode: result.exitCode ?? -1, stdout: readFileSync(outPath, 'utf8'), stderr: readFileSync(errPath, 'utf8'), id };
      } finally {
        closeSync(stdout);
        closeSync(stderr);
        closeSync(stdin);
        rmSync(outDir, { recursive: true, force: true });
      }
    },
    async cleanup() {
      try {
        for (const id of await runtime.ctx.store.list()) await runtime.delete(id, { force: true });
      } finally {
        for (const b of bundles) b.remove();
        // only an empty root goes (its seccomp cache aside): a container left in it must stay
        // visible to the leak check
        rmSync(join(rootDir, '.seccomp-cache'), { recursive: true, force: true });
        if (existsSync(rootDir) && readdirSync(rootDir).length === 0) rmSync(rootDir, { recursive: true, force: true });
      }
    },
  };
  return h;
}

export function sh(script: string): (c: RuntimeConfig) => void {
  return (c) => {
    c.process!.args = ['/bin/sh', '-c', script];
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` is true or fails after timeoutMs. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
