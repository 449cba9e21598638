/**
 * The CLI bundles run through bin/load-bundle.cjs, which compiles them with vm.Script: a dynamic
 * `import()` left in a bundle makes Node print an ExperimentalWarning
 * (vm.USE_MAIN_CONTEXT_DEFAULT_LOADER) to the user of every command that reaches it. Builtins
 * are imported statically; this keeps it so for every bundle loaded that way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '../..');
const dist = join(repo, 'dist');
// the bundles a launcher hands to load-bundle.cjs (berth-runtime runs its bundle as node's main
// script, where a lazy import() of a builtin is fine and saves start-up time)
const bundles = ['berth', 'berth-runtime']
  .filter((launcher) => readFileSync(join(repo, 'bin', launcher), 'utf8').includes('load-bundle.cjs'))
  .map((launcher) => `${launcher}.cjs`)
  .filter((b) => existsSync(join(dist, b)));

describe('the launchers\' bundles', { skip: bundles.length ? false : 'not built (node scripts/build.mjs)' }, () => {
  for (const bundle of bundles) {
    it(`${bundle} holds no dynamic import() of a module`, () => {
      const text = readFileSync(join(dist, bundle), 'utf8');
      const found = text.match(/\bimport\(\s*["'`][^"'`]+["'`]\s*\)/g) ?? [];
      assert.deepEqual(found, [], 'import these statically');
    });
  }
});
