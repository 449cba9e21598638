#!/usr/bin/env node
// Builds berth: berth-init (cc) and one bundled file per entry point (esbuild), so that
// start-up loads one file and does no work at import time.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
mkdirSync(join(repoDir, 'build'), { recursive: true });
mkdirSync(join(repoDir, 'dist'), { recursive: true });
const sources = readdirSync(join(repoDir, 'native')).filter((f) => f.endsWith('.c')).map((f) => join('native', f));
execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', 'build/berth-init', ...sources, '-lseccomp'], { cwd: repoDir, stdio: 'inherit' });
// a static build: bound into containers as /dev/init (--init), where no libc of the host's is
execFileSync('cc', ['-O2', '-static', '-Wall', '-Wextra', '-Werror', '-o', 'build/berth-init-static', ...sources, '-lseccomp'], { cwd: repoDir, stdio: 'inherit' });
// the same C with AddressSanitizer and UBSan (any finding aborts): the runtime's integration
// tests run once more with it (scripts/test.mjs). Skipped where the compiler lacks them.
try {
  execFileSync('cc', ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-Wall', '-Wextra', '-Werror', '-o', 'build/berth-init-asan', ...sources, '-lseccomp'], { cwd: repoDir, stdio: ['ignore', 'ignore', 'inherit'] });
} catch {
  rmSync(join(repoDir, 'build/berth-init-asan'), { force: true });
  console.error('build: no sanitizer build of berth-init (the compiler lacks -fsanitize=address,undefined)');
}

// CommonJS bundles: an ES module's `import … from 'node:fs'` makes Node build an ESM facade of
// each builtin at start-up, reading every export (fs's lazy ReadStream getter loads all of
// streams): ~10 ms of a CLI run. require() of a builtin does none of that.
const entries = readdirSync(join(repoDir, 'src/bin')).filter((f) => f.endsWith('.ts'));
for (const stale of readdirSync(join(repoDir, 'dist'), { withFileTypes: true }).filter((e) => /\.mjs(\.map)?$/.test(e.name))) {
  rmSync(join(repoDir, 'dist', stale.name), { force: true });
}
// Node's heavier built-in modules are loaded on first use, not at start-up: a `berth run` needs
// neither HTTP, TLS, zlib, crypto, worker threads nor readline, and loading them all cost ~15 ms
// of every command. In the bundle, each `require("node:X")` of these becomes
// `__berthLazy("node:X")`: an object that reads through to the real module the first time one
// of its exports is used (the bundle uses them as `mod.name`, so nothing else changes).
const LAZY_BUILTINS = ['crypto', 'dgram', 'http', 'https', 'readline', 'readline/promises', 'stream/promises', 'tls', 'worker_threads', 'zlib', 'dns', 'os', 'timers/promises', 'util'];
const LAZY_RUNTIME = `const __berthLazy = (name) => {
  let real;
  const load = () => (real ??= process.getBuiltinModule(name));
  return new Proxy({}, {
    get: (_, key) => load()[key],
    has: (_, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, key) => { const d = Reflect.getOwnPropertyDescriptor(load(), key); return d && { ...d, configurable: true }; },
  });
};`;
function makeBuiltinsLazy(file) {
  const names = LAZY_BUILTINS.map((n) => n.replace('/', '\\/')).join('|');
  let text = readFileSync(file, 'utf8');
  text = text.replace(new RegExp(`__toESM\\(require\\("node:(${names})"\\)(, 1)?\\)`, 'g'), '__berthLazy("node:$1")');
  text = text.replace(new RegExp(`require\\("node:(${names})"\\)`, 'g'), '__berthLazy("node:$1")');
  writeFileSync(file, text);
}

const common = {
  outExtension: { '.js': '.cjs' },
  bundle: true,
  splitting: false,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
  // the sources are ES modules: import.meta.url is the bundle's own URL
  define: { 'import.meta.url': '__berthImportMetaUrl' },
  banner: { js: `const __berthImportMetaUrl = require("node:url").pathToFileURL(__filename).href;\n${LAZY_RUNTIME}` },
};
await build({ ...common, entryPoints: entries.map((f) => join(repoDir, 'src/bin', f)), outdir: join(repoDir, 'dist') });
for (const f of entries) makeBuiltinsLazy(join(repoDir, 'dist', f.replace(/\.ts$/, '.cjs')));
// The unpacker's worker threads are modules of their own: each is bundled as a separate entry
// point, started from dist/workers/<name>.cjs (src/storage/worker-url.ts finds them).
const workers = ['inflate-thread', 'file-thread'];
rmSync(join(repoDir, 'dist/workers'), { recursive: true, force: true });
await build({ ...common, entryPoints: workers.map((name) => join(repoDir, 'src/storage', `${name}.ts`)), outdir: join(repoDir, 'dist/workers') });

// The library (`import { Engine } from 'berth'`, package.json "exports"): an ES module bundle,
// its workers beside it, and its type declarations (tsc, with the sources' .ts specifiers made
// .js so that a consumer's TypeScript finds the .d.ts files).
const { format: _cjs, outExtension: _ext, define: _define, banner: _banner, ...esmCommon } = common;
rmSync(join(repoDir, 'dist/lib'), { recursive: true, force: true });
await build({ ...esmCommon, format: 'esm', entryPoints: [join(repoDir, 'src/lib/index.ts')], outfile: join(repoDir, 'dist/lib/index.js') });
await build({ ...common, entryPoints: workers.map((name) => join(repoDir, 'src/storage', `${name}.ts`)), outdir: join(repoDir, 'dist/lib/workers') });
execFileSync(process.execPath, [join(repoDir, 'node_modules/typescript/bin/tsc'), '-p', join(repoDir, 'tsconfig.lib.json')], { cwd: repoDir, stdio: 'inherit' });
const rewrite = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) rewrite(path);
    else if (entry.name.endsWith('.d.ts')) writeFileSync(path, readFileSync(path, 'utf8').replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2'));
  }
};
rewrite(join(repoDir, 'dist/lib/types'));
