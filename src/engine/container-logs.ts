/**
 * `logs`: the container's json-file log (written by its monitor, rotated to .1, .2, …) read back
 * as entries, oldest first, with docker's --since/--until/--tail and --follow, which ends when
 * the container does (or is removed).
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, isErrno } from '../common/index.ts';
import type { EngineContext } from './container-context.ts';
import { containerPaths } from './container-paths.ts';
import { isActive, observe } from './container-lifecycle.ts';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the monitor wrote it. */
  time: string;
  log: string;
}

export interface LogsOptions {
  follow?: boolean;
  /** Only entries at or after / before these times (ms since the epoch). */
  since?: number;
  until?: number;
  /** Only the last N entries (of those in the time range). */
  tail?: number;
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

/** ms since the epoch of an RFC 3339 time with up to nanoseconds (Date.parse keeps ms). */
function timeMs(time: string): number {
  return Date.parse(time);
}

function parseLine(line: string): LogEntry | undefined {
  try {
    const doc = JSON.parse(line) as Partial<LogEntry>;
    if (typeof doc.log !== 'string' || (doc.stream !== 'stdout' && doc.stream !== 'stderr') || typeof doc.time !== 'string') return undefined;
    return { stream: doc.stream, time: doc.time, log: doc.log };
  } catch {
    return undefined; // a torn last line of a killed monitor
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function logFiles(logPath: string): string[] {
  const files: string[] = [];
  for (let k = 1; k < 1000; k++) {
    try {
      statSync(`${logPath}.${k}`);
      files.unshift(`${logPath}.${k}`);
    } catch {
      break;
    }
  }
  files.push(logPath);
  return files;
}

async function* linesOf(path: string, start = 0): AsyncGenerator<{ line: string; end: number }> {
  let stream;
  try {
    stream = createReadStream(path, { start, encoding: 'utf8' });
    await new Promise<void>((resolve, reject) => {
      stream!.once('open', () => resolve());
      stream!.once('error', reject);
    });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  let offset = start;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    offset += Buffer.byteLength(line) + 1;
    yield { line, end: offset };
  }
}

export async function* readLogs(ctx: EngineContext, ref: string, opts: LogsOptions = {}): AsyncGenerator<LogEntry> {
  const rec = ctx.containers.resolve(ref);
  if (rec.spec.logDriver === 'none') throw new BerthError('FAILED_PRECONDITION', 'configured logging driver does not support reading');
  const { logPath } = containerPaths(ctx.paths, rec.id);
  const wanted = (e: LogEntry) =>
    (e.stream === 'stdout' ? opts.stdout !== false : opts.stderr !== false) &&
    (opts.since === undefined || timeMs(e.time) >= opts.since) &&
    (opts.until === undefined || timeMs(e.time) < opts.until);

  // what is there now
  const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
  const kept: LogEntry[] = [];
  let position = 0;
  let inode = 0;
  try {
    inode = statSync(logPath).ino;
  } catch {
    // not written yet
  }
  for (const file of logFiles(logPath)) {
    for await (const { line, end } of linesOf(file)) {
      if (file === logPath) position = end;
      const e = parseLine(line);
      if (!e || !wanted(e)) continue;
      if (tail === undefined) yield e;
      else {
        kept.push(e);
        if (kept.length > tail) kept.shift();
      }
    }
  }
  yield* kept;
  if (!opts.follow || (opts.until !== undefined && opts.until <= Date.now())) return;

  // then what comes, until the container ends (or goes)
  for (let idle = 0; ; ) {
    opts.signal?.throwIfAborted();
    let st;
    try {
      st = statSync(logPath);
    } catch {
      st = undefined;
    }
    if (st && (st.ino !== inode || st.size < position)) {
      inode = st.ino; // rotated: the new file from its start (the old one was read to its end)
      position = 0;
    }
    let got = false;
    if (st && st.size > position) {
      for await (const { line, end } of linesOf(logPath, position)) {
        // a record still being written (no newline yet) is read on the next round
        if (end > st.size && end > sizeOf(logPath)) break;
        position = end;
        const e = parseLine(line);
        got = true;
        if (e && wanted(e)) yield e;
      }
    }
    if (got) {
      idle = 0;
      continue;
    }
    const now = ctx.containers.get(rec.id);
    if (!now || !isActive(now) || observe(now) === 'lost') {
      if (++idle > 2) return; // a last look after the end: the monitor writes before it records the exit
    }
    if (opts.until !== undefined && Date.now() >= opts.until) return;
    await sleep(50, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
  }
}
