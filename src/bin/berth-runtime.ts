#!/usr/bin/env node
import { runtimeMain } from '../cli/runtime-main.ts';

// no top-level await: the bundle is CommonJS (see scripts/build.mjs)
void runtimeMain(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
