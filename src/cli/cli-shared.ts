/**
 * What several commands do the same way: write an archive atomically, print what `inspect`
 * found, read KEY=VALUE flags, ask before pruning and read prune's label filters.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { BerthError, describeErrno, isErrno } from '../common/index.ts';
import { parseLabelFilter, type LabelFilter } from '../engine/index.ts';
import { readLine, type Io } from './berth-command.ts';
import { goJson } from './render/table.ts';
import { compileTemplate } from './render/template.ts';

/** Writes a stream to `path` atomically (a temp file in the same directory, then rename). */
export async function writeFileAtomically(chunks: AsyncIterable<Uint8Array>, path: string, what = ''): Promise<void> {
  const target = resolve(path);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const name = `${what ? `${what} ` : ''}${JSON.stringify(path)}`;
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new BerthError('NOT_FOUND', `cannot write ${name}: its directory does not exist`, { cause: err });
    if (isErrno(err, 'EACCES', 'EPERM', 'EROFS')) throw new BerthError('PERMISSION_DENIED', `cannot write ${name}: ${describeErrno((err as NodeJS.ErrnoException).code ?? '')}`, { cause: err });
    if (isErrno(err, 'EISDIR')) throw new BerthError('INVALID_ARGUMENT', `cannot write ${name}: it is a directory`, { cause: err, hint: 'give a file name' });
    if (isErrno(err, 'ENOSPC')) throw new BerthError('UNAVAILABLE', `cannot write ${name}: no space left on device`, { cause: err });
    throw err;
  }
}

/** `inspect`'s output: a Go template per object, or docker's indented JSON array. */
export function printInspected(io: Io, found: unknown[], format: string | undefined): void {
  if (format && format !== 'json') {
    const template = compileTemplate(format);
    io.out(found.map((v) => template.render(v) + '\n').join(''));
  } else io.out(goJson(found, '    ') + '\n');
}

/** --label/--opt KEY=VALUE entries as a map. */
export function keyValueFlags(entries: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `invalid argument "${e}" for "${flag}": it must be KEY=VALUE`);
    out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/** docker's prune question; true when the answer is yes. */
export async function confirmPrune(io: Io, warning: string): Promise<boolean> {
  io.out(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `);
  return /^y(es)?$/i.test(((await readLine(io.stdin)) ?? '').trim());
}

/** prune's --filter label=…/label!=… (and the keys `extra` allows, returned as they are). */
export function pruneLabelFilters(texts: string[], what: string, extra: string[] = []): { labels: LabelFilter[]; other: Record<string, string> } {
  const labels: LabelFilter[] = [];
  const other: Record<string, string> = {};
  for (const text of texts) {
    const eq = text.indexOf('=');
    const key = eq < 0 ? text : text.slice(0, eq);
    if (extra.includes(key)) {
      other[key] = text.slice(eq + 1);
      continue;
    }
    if (key !== 'label' && key !== 'label!') {
      throw new BerthError('INVALID_ARGUMENT', `invalid filter '${key}'`, { hint: `${what} filters: ${['label=KEY[=VALUE]', 'label!=KEY[=VALUE]', ...extra.map((k) => `${k}=…`)].join(', ')}` });
    }
    labels.push(parseLabelFilter(text.slice(eq + 1), key === 'label!'));
  }
  return { labels, other };
}
