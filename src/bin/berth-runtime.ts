#!/usr/bin/env node
import { runtimeMain } from '../cli/runtime-main.ts';

const code = await runtimeMain(process.argv.slice(2));
process.exitCode = code;
