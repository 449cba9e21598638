'use strict';
// Loads a bundle of dist/ (argv[2]) with a V8 code cache made AFTER a command ran, so that it
// holds every function that command compiled, not only the eager top level Node's own
// NODE_COMPILE_CACHE keeps (a `berth run` compiles ~4x more lazily: ~8 ms of every run).
// One cache per bundle build and per command word (`run`, `container-cleanup`, `ps`, …): each
// command gets the functions it runs. Made by the first run of that command after a build, at
// its exit (tmp + rename), in the launcher's per-kernel NODE_COMPILE_CACHE dir; without that
// dir, the bundle is required as usual. V8 checks a cache's version and flags itself, and its
// source only by length: the file name holds the bundle's inode, size and mtime, so a rebuilt
// bundle never meets an old cache.
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const vm = require('node:vm');

const bundle = path.resolve(process.argv[2]);
process.argv.splice(1, 1); // as if node had run the bundle itself: argv[1] is the bundle
const cacheRoot = process.env.NODE_COMPILE_CACHE;

function commandKey(args) {
  const words = [];
  for (let i = 2; i < args.length && words.length < 2; i++) {
    const a = args[i];
    if (a === '--root' || a === '--insecure-registry') i++;
    else if (a.startsWith('-')) continue;
    else if (/^[a-z][a-z-]{0,30}$/.test(a)) {
      words.push(a);
      if (!['container', 'image', 'system'].includes(a)) break;
    } else break;
  }
  return words.join('-') || 'none';
}

/** The bundle compiled with its cache, or undefined (no cache dir, or it cannot be used). */
function compile() {
  if (!cacheRoot) return undefined;
  const st = fs.statSync(bundle);
  const dir = path.join(cacheRoot, 'berth-v8');
  const file = path.join(dir, `${path.basename(bundle)}-${st.ino}-${st.size}-${Math.floor(st.mtimeMs)}-${commandKey(process.argv)}.bin`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(file);
  } catch {
    // not made yet for this command: made at exit
  }
  const source = fs.readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
  const script = new vm.Script(Module.wrap(source), {
    filename: bundle,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        fs.renameSync(tmp, file);
        // the caches of this command for bundles of earlier builds are of no use any more
        const mine = path.basename(file);
        const [prefix, suffix] = [`${path.basename(bundle)}-`, `-${commandKey(process.argv)}.bin`];
        for (const name of fs.readdirSync(dir)) {
          if (name !== mine && name.startsWith(prefix) && name.endsWith(suffix)) fs.rmSync(path.join(dir, name), { force: true });
        }
      } catch {
        // no cache: the next run compiles as this one did
      }
    });
  }
  return script;
}

let script;
try {
  script = compile();
} catch {
  script = undefined;
}
if (script) {
  const mod = new Module(bundle, null);
  mod.filename = bundle;
  mod.paths = Module._nodeModulePaths(path.dirname(bundle));
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
} else {
  require(bundle);
}
