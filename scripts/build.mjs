#!/usr/bin/env node
// Builds berth: berth-init (cc) and one bundled file per entry point (esbuild), so that
// start-up loads one file and does no work at import time.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
mkdirSync(join(repoDir, 'build'), { recursive: true });
const sources = readdirSync(join(repoDir, 'native')).filter((f) => f.endsWith('.c')).map((f) => join('native', f));
execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', 'build/berth-init', ...sources, '-lseccomp'], { cwd: repoDir, stdio: 'inherit' });

const entries = readdirSync(join(repoDir, 'src/bin')).filter((f) => f.endsWith('.ts'));
await build({
  entryPoints: entries.map((f) => join(repoDir, 'src/bin', f)),
  outdir: join(repoDir, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: false,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
