/**
 * A streaming tar writer (POSIX ustar, PAX `x` headers for what ustar cannot hold: long
 * names and link targets, big sizes and ids). Yields chunks; the caller pipes them to a file
 * or a stream. File data is streamed from an async source and checked against the declared
 * size, so a short or long source can never produce a corrupt archive silently. Names may be
 * bytes (a container's file names need not be UTF-8); xattrs go in PAX `SCHILY.xattr.` records.
 */
import { BerthError } from '../../common/index.ts';

export type TarWriteType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo';

export interface TarWriteEntry {
  /** The path: a string (UTF-8) or raw bytes. */
  name: string | Uint8Array;
  type: TarWriteType;
  /** Permission bits (default 0644, dirs 0755). */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch (default 0, for reproducible archives). */
  mtime?: number;
  linkname?: string | Uint8Array;
  /** Extended attributes, as PAX `SCHILY.xattr.<name>` records (GNU tar's and docker's way). */
  xattrs?: ReadonlyArray<readonly [string, Uint8Array]>;
  devmajor?: number;
  devminor?: number;
  /** Bytes of data (files only). */
  size?: number;
  /** The data of a file: bytes, or chunks totalling `size` bytes. */
  body?: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarWriteType, string> = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', dir: '5', fifo: '6' };

function octal(block: Buffer, offset: number, length: number, value: number): boolean {
  const text = Math.trunc(value).toString(8);
  if (value < 0 || text.length > length - 1) return false;
  block.write(text.padStart(length - 1, '0') + '\0', offset, length, 'latin1');
  return true;
}

/** One PAX extended-header record: "<length> <key>=<value>\n", the length counting itself. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

interface HeaderFields {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

/** One ustar header block; fields that do not fit come back as PAX records. */
function headerBlock(f: HeaderFields): { block: Buffer; pax: Buffer[] } {
  const block = Buffer.alloc(BLOCK);
  const pax: Buffer[] = [];
  const name = f.name;
  if (name.length > 100) {
    // split into ustar prefix/name when a '/' allows it; otherwise a PAX path record
    const cut = name.lastIndexOf(0x2f, 155);
    const head = cut > 0 ? name.subarray(0, cut) : undefined;
    const tail = cut > 0 ? name.subarray(cut + 1) : undefined;
    if (head && tail && head.length <= 155 && tail.length <= 100 && tail.length > 0) {
      tail.copy(block, 0);
      head.copy(block, 345);
    } else {
      pax.push(paxRecord('path', f.name));
      name.copy(block, 0, 0, 100);
    }
  } else {
    name.copy(block, 0);
  }
  octal(block, 100, 8, f.mode);
  if (!octal(block, 108, 8, f.uid)) pax.push(paxRecord('uid', String(f.uid)));
  if (!octal(block, 116, 8, f.gid)) pax.push(paxRecord('gid', String(f.gid)));
  if (!octal(block, 124, 12, f.size)) pax.push(paxRecord('size', String(f.size)));
  octal(block, 136, 12, f.mtime);
  block.write(f.typeflag, 156, 1, 'latin1');
  const link = f.linkname;
  if (link.length > 100) pax.push(paxRecord('linkpath', f.linkname));
  link.copy(block, 157, 0, 100);
  block.write('ustar\0' + '00', 257, 8, 'latin1');
  Buffer.from(f.uname).copy(block, 265, 0, 32);
  Buffer.from(f.gname).copy(block, 297, 0, 32);
  octal(block, 329, 8, f.devmajor);
  octal(block, 337, 8, f.devminor);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return { block, pax };
}

/** The header blocks of one entry (a PAX header first when needed). */
export function tarHeader(entry: TarWriteEntry): Buffer {
  const size = entry.type === 'file' ? (entry.size ?? (entry.body instanceof Uint8Array ? entry.body.length : 0)) : 0;
  const rawName = Buffer.from(entry.name);
  const fields: HeaderFields = {
    name: entry.type === 'dir' && rawName[rawName.length - 1] !== 0x2f ? Buffer.concat([rawName, Buffer.from('/')]) : rawName,
    mode: entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644),
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size,
    mtime: entry.mtime ?? 0,
    typeflag: TYPEFLAG[entry.type],
    linkname: Buffer.from(entry.linkname ?? ''),
    uname: entry.uname ?? '',
    gname: entry.gname ?? '',
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
  };
  const { block, pax } = headerBlock(fields);
  for (const [key, value] of entry.xattrs ?? []) pax.push(paxRecord(`SCHILY.xattr.${key}`, Buffer.from(value)));
  if (pax.length === 0) return block;
  const records = Buffer.concat(pax);
  const trimmed = fields.name.toString('latin1').replace(/\/+$/, '');
  const base = trimmed.slice(trimmed.lastIndexOf('/') + 1) || 'entry';
  const { block: paxBlock } = headerBlock({
    ...fields,
    name: Buffer.from(`PaxHeaders.0/${base}`.slice(0, 100), 'latin1'),
    size: records.length,
    typeflag: 'x',
    linkname: Buffer.alloc(0),
  });
  return Buffer.concat([paxBlock, records, padding(records.length), block]);
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

async function* toChunks(body: TarWriteEntry['body']): AsyncGenerator<Uint8Array> {
  if (body === undefined) return;
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  yield* body;
}

/** Write an archive of `entries` as a stream of chunks (end-of-archive marker included). */
export async function* writeTarStream(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>): AsyncGenerator<Uint8Array> {
  for await (const entry of entries) {
    yield tarHeader(entry);
    if (entry.type !== 'file') continue;
    const size = entry.size ?? (entry.body instanceof Uint8Array ? entry.body.length : 0);
    let written = 0;
    for await (const chunk of toChunks(entry.body)) {
      written += chunk.length;
      if (written > size) break;
      yield chunk;
    }
    if (written !== size) {
      throw new BerthError('INTERNAL', `tar entry ${JSON.stringify(Buffer.from(entry.name).toString())}: ${written > size ? 'more' : 'fewer'} bytes than its declared size ${size}`);
    }
    const pad = padding(size);
    if (pad.length) yield pad;
  }
  yield END_OF_ARCHIVE;
}
