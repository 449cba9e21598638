/**
 * Hooks the runtime runs itself, in the runtime's namespaces: prestart, createRuntime,
 * poststart, poststop. (createContainer and startContainer run inside the container: they
 * are plan steps, and berth-init runs them with the same behaviour: native/hooks.c.) Each gets
 * the OCI state on stdin, its own args, its own env or else the runtime's environment (as runc
 * and crun give it), the bundle as its working directory, and a timeout; its stdout is dropped
 * and its stderr (up to 4 KiB) goes into the error.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BerthError } from '../common/index.ts';
import type { Hook, HookName, State } from '../oci/index.ts';

function envObject(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** A signal in words, as runc (Go) says it: "signal: bad system call". */
const SIGNAL_WORDS: Record<string, string> = {
  SIGSYS: 'bad system call',
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGSEGV: 'segmentation fault',
  SIGABRT: 'aborted',
  SIGINT: 'interrupt',
  SIGBUS: 'bus error',
  SIGILL: 'illegal instruction',
  SIGFPE: 'floating point exception',
  SIGHUP: 'hangup',
  SIGPIPE: 'broken pipe',
  SIGQUIT: 'quit',
};

export function runHook(name: HookName, hook: Hook, state: State, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = hook.args ?? [hook.path];
    const child = spawn(hook.path, args.slice(1), {
      argv0: args[0] ?? hook.path,
      env: hook.env === undefined ? process.env : envObject(hook.env),
      stdio: ['pipe', 'ignore', 'pipe'],
      ...(cwd && existsSync(cwd) ? { cwd } : {}),
    });
    let stderr = '';
    let timedOut = false;
    const timer = hook.timeout ? setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, hook.timeout * 1000) : undefined;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.stdin!.on('error', () => {}); // a hook need not read its stdin
    child.stdin!.end(JSON.stringify(state));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new BerthError('FAILED_PRECONDITION', `${name} hook ${hook.path}: cannot run: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = timedOut ? `timed out after ${hook.timeout}s` : signal ? `killed by ${signal}${SIGNAL_WORDS[signal] ? ` (signal: ${SIGNAL_WORDS[signal]})` : ''}` : `exit status ${code}`;
      const detail = stderr.trimEnd() ? `: ${stderr.trimEnd()}` : '';
      reject(new BerthError('FAILED_PRECONDITION', `error running hook (${name} ${hook.path}): ${why}${detail}`));
    });
  });
}

/** Runs every hook of one phase in order; the first failure stops the phase. */
export async function runHooks(name: HookName, hooks: Hook[] | undefined, state: State, cwd?: string): Promise<void> {
  for (const hook of hooks ?? []) await runHook(name, hook, state, cwd);
}

/** For poststart/poststop: failures are warnings, and the remaining hooks still run. */
export async function runHooksCollectingWarnings(name: HookName, hooks: Hook[] | undefined, state: State, cwd?: string): Promise<string[]> {
  const warnings: string[] = [];
  for (const hook of hooks ?? []) {
    try {
      await runHook(name, hook, state, cwd);
    } catch (err) {
      warnings.push((err as Error).message);
    }
  }
  return warnings;
}
