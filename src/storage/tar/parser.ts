/**
 * The tar parser: a push state machine (`push(chunk)`, then `finish()`) that calls its handler
 * synchronously with each entry's header, its data as it passes by, and its end. No promise,
 * no copy of file data (data is handed out as views of the pushed chunks), so unpacking a layer
 * of many small files costs little beyond the parsing itself. `readTar` (reader.ts) wraps it as
 * an async iterator of entries.
 *
 * Formats: ustar, GNU (long names `L`, long links `K`) and PAX (`x`, `g`). Header checksums
 * are verified; truncated entry data is an error; a missing end-of-archive marker or truncated
 * final padding is tolerated; whatever follows the end-of-archive marker is ignored. Sparse
 * files (GNU `S`, PAX `GNU.sparse.*`) and multi-volume archives are refused.
 *
 * Names are reported exactly as in the archive (no cleaning): callers decide what is safe.
 */
import { BerthError } from '../../common/index.ts';
import type { Timespec } from '../../native/sys.ts';
import { BLOCK_SIZE, cString, decodeUtf8, isZeroBlock, parseHeader, type RawHeader } from './header.ts';
import { parsePaxRecords, paxInteger, paxTime, paxXattr } from './pax.ts';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo' | 'unsupported';

/** An entry's header, as the archive gives it (after PAX records and GNU long names). */
export interface TarHeader {
  /** Path as stored in the archive (after PAX `path` / GNU long name), not cleaned. */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character (useful when `type` is 'unsupported'). */
  typeflag: string;
  /** Bytes of data that follow (0 for directories, links, devices and FIFOs). */
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
}

export interface TarHandler {
  /** A new entry; its data (if any) follows through `data`, then `end` is called. */
  entry(header: TarHeader): void;
  /** The next bytes of the current entry's data: a view valid only during the call. */
  data(chunk: Buffer): void;
  /** The current entry's data is complete. */
  end(): void;
}

export interface TarParserOptions {
  /** Largest PAX header or GNU long name accepted, in bytes (default 1 MiB). */
  maxMetaSize?: number;
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
const NO_PAX: ReadonlyMap<string, Buffer> = new Map();

export function invalid(message: string, hint = 'the layer is corrupt or not a tar archive'): BerthError {
  return new BerthError('INVALID_ARGUMENT', message, { hint });
}

export function truncated(name: string, needed: number, got: number): BerthError {
  return invalid(`truncated tar: entry ${JSON.stringify(name)} needs ${needed} bytes, got ${got}`, 'the download or the layer is incomplete');
}

interface Pending {
  pax: Map<string, Buffer>;
  longName?: Buffer;
  longLink?: Buffer;
}

/** The records in force for one entry: the global ones overridden by the entry's own. */
function mergedPax(global: ReadonlyMap<string, Buffer>, own: Map<string, Buffer>): ReadonlyMap<string, Buffer> {
  let pax: ReadonlyMap<string, Buffer>;
  if (global.size === 0) pax = own.size === 0 ? NO_PAX : own;
  else if (own.size === 0) pax = global;
  else pax = new Map([...global, ...own]);
  for (const value of pax.values()) {
    if (value.length === 0) {
      // an empty value means: use the header field
      const copy = new Map(pax);
      for (const [key, v] of copy) if (v.length === 0) copy.delete(key);
      return copy;
    }
  }
  return pax;
}

export function buildHeader(raw: RawHeader, global: ReadonlyMap<string, Buffer>, pending: Pending): TarHeader {
  const pax = mergedPax(global, pending.pax);
  const nameBytes = pax.get('path') ?? pending.longName ?? raw.name;
  const name = decodeUtf8(nameBytes, 'entry name');
  if (name.includes('\0')) throw invalid(`invalid tar: entry name ${JSON.stringify(name)} contains a NUL byte`);
  if (name === '') throw invalid(`invalid tar: entry at an empty name`);
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith('GNU.sparse.')) {
      throw new BerthError('NOT_IMPLEMENTED', `tar entry ${JSON.stringify(name)} is a sparse file, which berth does not unpack`, {
        hint: 'rebuild the image without sparse files (GNU tar --sparse)',
      });
    }
    const xattr = paxXattr(key, value);
    if (xattr) xattrs.set(xattr.name, xattr.value);
  }
  let type = TYPES[raw.typeflag] ?? 'unsupported';
  if (raw.typeflag === '\0' && name.endsWith('/')) type = 'dir';
  const linkBytes = pax.get('linkpath') ?? pending.longLink ?? raw.linkname;
  const linkname = linkBytes.length === 0 ? '' : decodeUtf8(linkBytes, `link target of ${JSON.stringify(name)}`);
  if (linkname.includes('\0')) throw invalid(`invalid tar: link target of ${JSON.stringify(name)} contains a NUL byte`);
  const num = (key: string, fallback: number): number => {
    const value = pax.get(key);
    const n = value === undefined ? fallback : paxInteger(key, value);
    if (n < 0) throw invalid(`invalid tar: entry ${JSON.stringify(name)} has a negative ${key}`);
    return n;
  };
  const mtimeValue = pax.get('mtime');
  const atimeValue = pax.get('atime');
  const size = num('size', raw.size);
  const uname = pax.get('uname') ?? raw.uname;
  const gname = pax.get('gname') ?? raw.gname;
  const header: TarHeader = {
    name,
    type,
    typeflag: raw.typeflag,
    size: HEADER_ONLY.has(type) && raw.typeflag !== 'D' ? 0 : size,
    mode: raw.mode & 0o7777,
    uid: num('uid', raw.uid),
    gid: num('gid', raw.gid),
    uname: uname.length === 0 ? '' : decodeUtf8(uname, 'user name'),
    gname: gname.length === 0 ? '' : decodeUtf8(gname, 'group name'),
    mtime: mtimeValue ? paxTime('mtime', mtimeValue) : { sec: raw.mtime, nsec: 0 },
    linkname,
    devmajor: num('SCHILY.devmajor', raw.devmajor),
    devminor: num('SCHILY.devminor', raw.devminor),
    xattrs,
  };
  if (atimeValue) header.atime = paxTime('atime', atimeValue);
  return header;
}

/** Parser states (plain numbers: type stripping has no enums). */
const State = { Header: 0, Meta: 1, Data: 2, Skip: 3, SecondZero: 4, End: 5, Failed: 6 } as const;
type State = (typeof State)[keyof typeof State];

type MetaKind = 'x' | 'g' | 'L' | 'K' | 'V';

const META_WHAT: Record<MetaKind, string> = {
  x: 'PAX header',
  g: 'PAX global header',
  L: 'GNU long name',
  K: 'GNU long link name',
  V: 'volume label',
};

export class TarParser {
  /** Bytes of archive consumed so far. */
  offset = 0;
  private state: State = State.Header;
  private readonly handler: TarHandler;
  private readonly maxMetaSize: number;
  /** A header block that arrived in pieces. */
  private readonly block = Buffer.alloc(BLOCK_SIZE);
  private blockFill = 0;
  private blockOffset = 0;
  /** Data bytes left in the current entry / meta record, and padding to skip after it. */
  private remaining = 0;
  private padding = 0;
  private entryName = '';
  private entrySize = 0;
  private meta: { kind: MetaKind; raw: RawHeader; data: Buffer; fill: number } | undefined;
  private readonly global = new Map<string, Buffer>();
  private pending: Pending = { pax: new Map() };
  private error: unknown;

  constructor(handler: TarHandler, opts: TarParserOptions = {}) {
    this.handler = handler;
    this.maxMetaSize = opts.maxMetaSize ?? 1 << 20;
  }

  /** True once the end-of-archive marker was read (later bytes are ignored). */
  get isEnded(): boolean {
    return this.state === State.End;
  }

  /** Parse the next bytes of the archive, calling the handler for what they complete. */
  push(chunk: Buffer): void {
    if (this.state === State.Failed) throw this.error;
    try {
      this.#push(chunk);
    } catch (err) {
      this.state = State.Failed;
      this.error = err;
      throw err;
    }
  }

  /** The archive ended: fails if it ended inside a header or an entry's data. */
  finish(): void {
    switch (this.state) {
      case State.Failed:
        throw this.error;
      case State.Header:
        if (this.blockFill > 0) {
          throw invalid(`truncated tar: header at byte ${this.blockOffset} has ${this.blockFill} of ${BLOCK_SIZE} bytes`);
        }
        return;
      case State.Data:
        throw truncated(this.entryName, this.entrySize, this.entrySize - this.remaining);
      case State.Meta: {
        const meta = this.meta as NonNullable<TarParser['meta']>;
        throw truncated(meta.raw.name.toString('latin1'), meta.raw.size, meta.fill);
      }
      default:
        return; // cut-off final padding or second zero block: tolerated
    }
  }

  #push(chunk: Buffer): void {
    let pos = 0;
    const length = chunk.length;
    while (pos < length) {
      switch (this.state) {
        case State.Header: {
          if (this.blockFill === 0 && length - pos >= BLOCK_SIZE) {
            const start = pos;
            pos += BLOCK_SIZE;
            this.offset += BLOCK_SIZE;
            this.#header(chunk.subarray(start, pos), this.offset - BLOCK_SIZE);
          } else {
            if (this.blockFill === 0) this.blockOffset = this.offset;
            pos += this.#fillBlock(chunk, pos, length);
            if (this.blockFill === BLOCK_SIZE) {
              this.blockFill = 0;
              this.#header(this.block, this.blockOffset);
            }
          }
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, length - pos);
          this.remaining -= n;
          this.offset += n;
          this.handler.data(n === length ? chunk : chunk.subarray(pos, pos + n));
          pos += n;
          if (this.remaining === 0) this.#endEntry();
          break;
        }
        case State.Meta: {
          const meta = this.meta as NonNullable<TarParser['meta']>;
          const n = Math.min(meta.data.length - meta.fill, length - pos);
          chunk.copy(meta.data, meta.fill, pos, pos + n);
          meta.fill += n;
          pos += n;
          this.offset += n;
          if (meta.fill === meta.data.length) this.#endMeta();
          break;
        }
        case State.Skip: {
          const n = Math.min(this.padding, length - pos);
          this.padding -= n;
          pos += n;
          this.offset += n;
          if (this.padding === 0) this.state = State.Header;
          break;
        }
        case State.SecondZero: {
          pos += this.#fillBlock(chunk, pos, length);
          if (this.blockFill === BLOCK_SIZE) {
            this.blockFill = 0;
            if (!isZeroBlock(this.block)) {
              throw invalid(`invalid tar: a lone zero block at byte ${this.blockOffset} is followed by data`);
            }
            this.state = State.End;
          }
          break;
        }
        case State.End:
          this.offset += length - pos;
          return;
        default:
          throw this.error;
      }
    }
  }

  #skipTo(padding: number): void {
    this.padding = padding;
    this.state = padding > 0 ? State.Skip : State.Header;
  }

  /** Copies what the current 512-byte block still lacks from chunk[pos, length); returns how much. */
  #fillBlock(chunk: Buffer, pos: number, length: number): number {
    const n = Math.min(BLOCK_SIZE - this.blockFill, length - pos);
    chunk.copy(this.block, this.blockFill, pos, pos + n);
    this.blockFill += n;
    this.offset += n;
    return n;
  }

  #header(block: Buffer, at: number): void {
    if (isZeroBlock(block)) {
      this.blockOffset = at;
      this.blockFill = 0;
      this.state = State.SecondZero;
      return;
    }
    const raw = parseHeader(block, at);
    switch (raw.typeflag) {
      case 'x':
      case 'g':
      case 'L':
      case 'K':
      case 'V': {
        const kind = raw.typeflag;
        if (raw.size > this.maxMetaSize) {
          throw invalid(`invalid tar: ${META_WHAT[kind]} of ${raw.size} bytes is larger than the ${this.maxMetaSize}-byte limit`);
        }
        this.meta = { kind, raw, data: Buffer.allocUnsafe(raw.size), fill: 0 };
        if (raw.size === 0) this.#endMeta();
        else this.state = State.Meta;
        return;
      }
      case 'S':
      case 'M':
      case 'N':
        throw new BerthError(
          'NOT_IMPLEMENTED',
          `tar entry ${JSON.stringify(raw.name.toString('latin1'))} uses GNU type "${raw.typeflag}" (${raw.typeflag === 'S' ? 'sparse file' : raw.typeflag === 'M' ? 'multi-volume' : 'old long name'}), which berth does not unpack`,
          { hint: 'rebuild the layer with a plain PAX or ustar tar' },
        );
    }
    const header = buildHeader(raw, this.global, this.pending);
    this.pending = { pax: new Map() };
    this.entryName = header.name;
    this.entrySize = header.size;
    this.remaining = header.size;
    this.handler.entry(header);
    if (header.size === 0) this.#endEntry();
    else this.state = State.Data;
  }

  #endEntry(): void {
    this.#skipTo((BLOCK_SIZE - (this.entrySize % BLOCK_SIZE)) % BLOCK_SIZE);
    this.handler.end();
  }

  #endMeta(): void {
    const { kind, raw, data } = this.meta as NonNullable<TarParser['meta']>;
    this.meta = undefined;
    this.#skipTo((BLOCK_SIZE - (raw.size % BLOCK_SIZE)) % BLOCK_SIZE);
    switch (kind) {
      case 'x':
        for (const [k, v] of parsePaxRecords(data)) this.pending.pax.set(k, v);
        break;
      case 'g':
        for (const [k, v] of parsePaxRecords(data)) {
          if (v.length === 0) this.global.delete(k);
          else this.global.set(k, v);
        }
        break;
      case 'L':
        this.pending.longName = cString(data);
        break;
      case 'K':
        this.pending.longLink = cString(data);
        break;
      default:
        break; // volume label: not a file
    }
  }
}
