/**
 * One 512-byte tar header block: field layout (v7, ustar, GNU, star), numeric fields in octal
 * or base-256, and checksum verification. Pure functions, no I/O.
 */
import { BerthError } from '../../common/index.ts';

export const BLOCK_SIZE = 512;

/** The header as stored, before PAX records or GNU long names are applied. */
export interface RawHeader {
  /** Name bytes (prefix joined for ustar); decoded later so PAX/GNU can replace them first. */
  name: Buffer;
  linkname: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  uname: Buffer;
  gname: Buffer;
  devmajor: number;
  devminor: number;
  format: 'v7' | 'ustar' | 'gnu' | 'star';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Bytes of a NUL-terminated field (everything before the first NUL). */
export function cString(field: Buffer): Buffer {
  const end = field.indexOf(0);
  return end < 0 ? field : field.subarray(0, end);
}

/** Decode bytes as UTF-8, refusing invalid sequences instead of silently replacing them. */
export function decodeUtf8(bytes: Buffer, what: string): string {
  let isAscii = true;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] as number) >= 0x80) {
      isAscii = false;
      break;
    }
  }
  if (isAscii) return bytes.toString('latin1');
  try {
    return utf8.decode(bytes);
  } catch {
    throw new BerthError('NOT_IMPLEMENTED', `tar ${what} is not valid UTF-8: ${JSON.stringify(bytes.toString('latin1'))}`, {
      hint: 'berth keeps file names as UTF-8 strings; names in other encodings are not supported yet',
    });
  }
}

/**
 * A numeric header field: octal text (NUL/space padded) or, when the high bit of the first byte
 * is set, GNU base-256 (big-endian two's complement) for values octal cannot hold.
 */
export function parseNumeric(field: Buffer, fieldName: string): number {
  const first = field[0] ?? 0;
  if ((first & 0x80) === 0) {
    const fast = parseOctalFast(field);
    if (fast >= 0) return fast;
  }
  if (first & 0x80) {
    // Two's complement: a negative number is read as the inverted bytes, then -x-1.
    const invert = (first & 0x40) !== 0 ? 0xff : 0;
    let value = 0n;
    for (let i = 0; i < field.length; i++) {
      let byte = (field[i] ?? 0) ^ invert;
      if (i === 0) byte &= 0x7f; // the marker bit
      value = (value << 8n) | BigInt(byte);
    }
    if (invert) value = -value - 1n;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new BerthError('INVALID_ARGUMENT', `invalid tar header: ${fieldName} is out of range`);
    }
    return Number(value);
  }
  const text = field.toString('latin1').replace(/^[ \0]+/, '').replace(/[ \0]+$/, '');
  const end = text.indexOf('\0');
  const digits = end < 0 ? text : text.slice(0, end);
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid tar header: ${fieldName} is not an octal number: ${JSON.stringify(digits)}`);
  }
  const value = parseInt(digits, 8);
  if (!Number.isSafeInteger(value)) throw new BerthError('INVALID_ARGUMENT', `invalid tar header: ${fieldName} is out of range`);
  return value;
}

/**
 * The common case of an octal field without a regex: optional leading spaces/NULs, digits,
 * then only spaces/NULs. -1 for anything else (the full parser decides).
 */
function parseOctalFast(field: Buffer): number {
  const end = field.length;
  let i = 0;
  while (i < end && (field[i] === 0x20 || field[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = field[i] as number;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  if (digits > 17) return -1; // may exceed 2^53: let the full parser check
  for (; i < end; i++) if (field[i] !== 0x20 && field[i] !== 0) return -1;
  return value;
}

/** Unsigned and (historic) signed sums of the block with the checksum field read as spaces. */
function unsignedChecksum(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i] as number;
  for (let i = 156; i < BLOCK_SIZE; i++) sum += block[i] as number;
  return sum;
}

function checksums(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return { unsigned, signed };
}

/** Parse a non-zero header block; `offset` is its position in the archive, for messages. */
export function parseHeader(block: Buffer, offset: number): RawHeader {
  const stored = parseNumeric(block.subarray(148, 156), 'checksum');
  const sums = stored === unsignedChecksum(block) ? undefined : checksums(block);
  if (sums !== undefined && stored !== sums.unsigned && stored !== sums.signed) {
    const name = cString(block.subarray(0, 100)).toString('latin1');
    throw new BerthError(
      'INVALID_ARGUMENT',
      `invalid tar: header checksum mismatch at byte ${offset} (entry ${JSON.stringify(name)}: stored ${stored}, computed ${sums.unsigned})`,
      { hint: 'the layer is corrupt or not a tar archive' },
    );
  }
  const magic = block.toString('latin1', 257, 263);
  const version = block.toString('latin1', 263, 265);
  let format: RawHeader['format'] = 'v7';
  if (magic === 'ustar\0' && version === '00') {
    format = block.toString('latin1', 508, 512) === 'tar\0' ? 'star' : 'ustar';
  } else if (magic === 'ustar ' && version === ' \0') {
    format = 'gnu';
  }
  let name = cString(block.subarray(0, 100));
  if (format === 'ustar' || format === 'star') {
    const prefix = cString(block.subarray(345, format === 'star' ? 476 : 500));
    if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.from('/'), name]);
  }
  const hasOwners = format !== 'v7';
  const typeflag = String.fromCharCode(block[156] ?? 0);
  const isDevice = typeflag === '3' || typeflag === '4';
  return {
    name,
    linkname: cString(block.subarray(157, 257)),
    mode: parseNumeric(block.subarray(100, 108), 'mode'),
    uid: parseNumeric(block.subarray(108, 116), 'uid'),
    gid: parseNumeric(block.subarray(116, 124), 'gid'),
    size: parseNumeric(block.subarray(124, 136), 'size'),
    mtime: parseNumeric(block.subarray(136, 148), 'mtime'),
    typeflag,
    uname: hasOwners ? cString(block.subarray(265, 297)) : Buffer.alloc(0),
    gname: hasOwners ? cString(block.subarray(297, 329)) : Buffer.alloc(0),
    devmajor: hasOwners && isDevice ? parseNumeric(block.subarray(329, 337), 'devmajor') : 0,
    devminor: hasOwners && isDevice ? parseNumeric(block.subarray(337, 345), 'devminor') : 0,
    format,
  };
}
