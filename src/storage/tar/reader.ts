/**
 * A streaming tar reader: ustar, GNU (long names `L`, long links `K`) and PAX (`x`, `g`),
 * written for layer unpacking where fidelity and safety matter more than breadth.
 *
 * - Streams: entries come from an async iterator; each entry's data is read from `entry.body`
 *   (or skipped when the next entry is requested). Nothing buffers a whole layer.
 * - Binary-safe: PAX values are bytes; `SCHILY.xattr.*` and `LIBARCHIVE.xattr.*` give exact values.
 * - Strict where it matters: header checksums are verified; truncated entry data is an error;
 *   a missing end-of-archive marker or truncated final padding is tolerated.
 * - Sparse files (GNU `S`, PAX `GNU.sparse.*`) and multi-volume archives are refused.
 *
 * Names are reported exactly as in the archive (no cleaning): callers decide what is safe.
 */
import { BerthError } from '../../common/index.ts';
import type { Timespec } from '../../native/sys.ts';
import { ByteSource, type ByteChunks } from './byte-source.ts';
import { BLOCK_SIZE, cString, decodeUtf8, isZeroBlock, parseHeader, type RawHeader } from './header.ts';
import { parsePaxRecords, paxInteger, paxTime, paxXattr } from './pax.ts';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo' | 'unsupported';

export interface TarEntry {
  /** Path as stored in the archive (after PAX `path` / GNU long name), not cleaned. */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character (useful when `type` is 'unsupported'). */
  typeflag: string;
  /** Bytes of data in `body` (0 for directories, links, devices and FIFOs). */
  size: number;
  /** Permission bits including setuid, setgid and sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Timespec;
  atime?: Timespec;
  /** Target of a symlink or hardlink, verbatim. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX records; values are exact bytes. */
  xattrs: Map<string, Buffer>;
  /** The entry's data; valid only until the next entry is requested. */
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  /** Largest PAX header or GNU long name accepted, in bytes (default 1 MiB). */
  maxMetaSize?: number;
  /** Read and discard whatever follows the end-of-archive marker (default true). */
  drain?: boolean;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'dir',
  '6': 'fifo',
  D: 'dir', // GNU dump dir: a directory whose data (a listing) is skipped
};

const HEADER_ONLY = new Set<TarEntryType>(['dir', 'symlink', 'hardlink', 'chardev', 'blockdev', 'fifo']);

function invalid(message: string, hint = 'the layer is corrupt or not a tar archive'): BerthError {
  return new BerthError('INVALID_ARGUMENT', message, { hint });
}

function truncated(name: string, needed: number, got: number): BerthError {
  return invalid(`truncated tar: entry ${JSON.stringify(name)} needs ${needed} bytes, got ${got}`, 'the download or the layer is incomplete');
}

interface Pending {
  pax: Map<string, Buffer>;
  longName?: Buffer;
  longLink?: Buffer;
}

function buildEntry(raw: RawHeader, global: Map<string, Buffer>, pending: Pending): Omit<TarEntry, 'body'> {
  const pax = new Map([...global, ...pending.pax]);
  for (const [key, value] of pax) if (value.length === 0) pax.delete(key); // empty value: use the header field
  const nameBytes = pax.get('path') ?? pending.longName ?? raw.name;
  const name = decodeUtf8(nameBytes, 'entry name');
  if (name.includes('\0')) throw invalid(`invalid tar: entry name ${JSON.stringify(name)} contains a NUL byte`);
  if (name === '') throw invalid(`invalid tar: entry at an empty name`);
  for (const key of pax.keys()) {
    if (key.startsWith('GNU.sparse.')) {
      throw new BerthError('NOT_IMPLEMENTED', `tar entry ${JSON.stringify(name)} is a sparse file, which berth does not unpack`, {
        hint: 'rebuild the image without sparse files (GNU tar --sparse)',
      });
    }
  }
  let type = TYPES[raw.typeflag] ?? 'unsupported';
  if (raw.typeflag === '\0' && name.endsWith('/')) type = 'dir';
  const linkname = decodeUtf8(pax.get('linkpath') ?? pending.longLink ?? raw.linkname, `link target of ${JSON.stringify(name)}`);
  if (linkname.includes('\0')) throw invalid(`invalid tar: link target of ${JSON.stringify(name)} contains a NUL byte`);
  const num = (key: string, fallback: number): number => {
    const value = pax.get(key);
    const n = value === undefined ? fallback : paxInteger(key, value);
    if (n < 0) throw invalid(`invalid tar: entry ${JSON.stringify(name)} has a negative ${key}`);
    return n;
  };
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    const xattr = paxXattr(key, value);
    if (xattr) xattrs.set(xattr.name, xattr.value);
  }
  const mtimeValue = pax.get('mtime');
  const atimeValue = pax.get('atime');
  const size = num('size', raw.size);
  const entry: Omit<TarEntry, 'body'> = {
    name,
    type,
    typeflag: raw.typeflag,
    size: HEADER_ONLY.has(type) && raw.typeflag !== 'D' ? 0 : size,
    mode: raw.mode & 0o7777,
    uid: num('uid', raw.uid),
    gid: num('gid', raw.gid),
    uname: decodeUtf8(pax.get('uname') ?? raw.uname, 'user name'),
    gname: decodeUtf8(pax.get('gname') ?? raw.gname, 'group name'),
    mtime: mtimeValue ? paxTime('mtime', mtimeValue) : { sec: raw.mtime, nsec: 0 },
    linkname,
    devmajor: num('SCHILY.devmajor', raw.devmajor),
    devminor: num('SCHILY.devminor', raw.devminor),
    xattrs,
  };
  if (atimeValue) entry.atime = paxTime('atime', atimeValue);
  return entry;
}

/**
 * Iterate over the entries of a tar stream. Each entry's `body` must be consumed (or ignored)
 * before asking for the next entry; unread data is skipped. Errors are INVALID_ARGUMENT
 * BerthErrors (NOT_IMPLEMENTED for sparse or multi-volume archives).
 */
export async function* readTar(source: ByteChunks, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry, void, undefined> {
  const maxMetaSize = opts.maxMetaSize ?? 1 << 20;
  const src = new ByteSource(source);
  const global = new Map<string, Buffer>();
  let pending: Pending = { pax: new Map() };

  const readMeta = async (raw: RawHeader, what: string): Promise<Buffer> => {
    if (raw.size > maxMetaSize) {
      throw invalid(`invalid tar: ${what} of ${raw.size} bytes is larger than the ${maxMetaSize}-byte limit`);
    }
    const data = await src.read(raw.size);
    if (data.length < raw.size) throw truncated(raw.name.toString('latin1'), raw.size, data.length);
    await src.skip((BLOCK_SIZE - (raw.size % BLOCK_SIZE)) % BLOCK_SIZE);
    return data;
  };

  try {
    for (;;) {
      const headerOffset = src.offset;
      const block = await src.read(BLOCK_SIZE);
      if (block.length === 0) break; // no end-of-archive marker: tolerated
      if (block.length < BLOCK_SIZE) {
        throw invalid(`truncated tar: header at byte ${headerOffset} has ${block.length} of ${BLOCK_SIZE} bytes`);
      }
      if (isZeroBlock(block)) {
        const second = await src.read(BLOCK_SIZE);
        if (second.length === BLOCK_SIZE && !isZeroBlock(second)) {
          throw invalid(`invalid tar: a lone zero block at byte ${headerOffset} is followed by data`);
        }
        break;
      }
      const raw = parseHeader(block, headerOffset);
      switch (raw.typeflag) {
        case 'x':
          for (const [k, v] of parsePaxRecords(await readMeta(raw, 'PAX header'))) pending.pax.set(k, v);
          continue;
        case 'g':
          for (const [k, v] of parsePaxRecords(await readMeta(raw, 'PAX global header'))) {
            if (v.length === 0) global.delete(k);
            else global.set(k, v);
          }
          continue;
        case 'L':
          pending.longName = cString(await readMeta(raw, 'GNU long name'));
          continue;
        case 'K':
          pending.longLink = cString(await readMeta(raw, 'GNU long link name'));
          continue;
        case 'V': // volume label: not a file
          await readMeta(raw, 'volume label');
          continue;
        case 'S':
        case 'M':
        case 'N':
          throw new BerthError(
            'NOT_IMPLEMENTED',
            `tar entry ${JSON.stringify(raw.name.toString('latin1'))} uses GNU type "${raw.typeflag}" (${raw.typeflag === 'S' ? 'sparse file' : raw.typeflag === 'M' ? 'multi-volume' : 'old long name'}), which berth does not unpack`,
            { hint: 'rebuild the layer with a plain PAX or ustar tar' },
          );
      }
      const header = buildEntry(raw, global, pending);
      pending = { pax: new Map() };
      const state = { remaining: header.size, isActive: true };
      const name = header.name;
      const size = header.size;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          if (!state.isActive) throw new BerthError('INTERNAL', `tar entry ${JSON.stringify(name)} was read after moving to the next entry`);
          while (state.remaining > 0) {
            const chunk = await src.readSome(state.remaining);
            if (chunk.length === 0) throw truncated(name, size, size - state.remaining);
            state.remaining -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { ...header, body };
      state.isActive = false;
      if (state.remaining > 0) {
        const want = state.remaining;
        const skipped = await src.skip(want);
        if (skipped < want) throw truncated(name, size, size - want + skipped);
      }
      await src.skip((BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE); // final padding may be cut short
    }
    if (opts.drain ?? true) await src.drain();
  } finally {
    await src.close();
  }
}
