/**
 * PAX extended header records (`<length> <key>=<value>\n`). Values are byte strings: records
 * are split by their length prefix on the raw bytes, so binary xattr values (any byte, NUL and
 * newline included) survive exactly; only keys are decoded as UTF-8.
 */
import { BerthError } from '../../common/index.ts';
import type { Timespec } from '../../native/sys.ts';
import { decodeUtf8 } from './header.ts';

const SCHILY_XATTR = 'SCHILY.xattr.';
const LIBARCHIVE_XATTR = 'LIBARCHIVE.xattr.';

function malformed(what: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid tar: malformed PAX header: ${what}`, {
    hint: 'the layer is corrupt or was written by a broken tool',
  });
}

/**
 * Parse the data of an `x` or `g` header into key → raw value bytes (later keys win). Values
 * are views of `data`, which the caller must not reuse.
 */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) {
      // Some writers pad the record block with NULs: only NULs may follow.
      for (let i = pos; i < data.length; i++) if (data[i] !== 0) throw malformed(`garbage after records at byte ${i}`);
      break;
    }
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw malformed(`record at byte ${pos} has no length`);
    const lengthText = data.toString('latin1', pos, space);
    if (!/^[1-9][0-9]*$/.test(lengthText)) throw malformed(`record at byte ${pos} has length ${JSON.stringify(lengthText)}`);
    const length = Number(lengthText);
    const end = pos + length;
    if (end > data.length || end <= space + 1) throw malformed(`record at byte ${pos} overruns the header`);
    if (data[end - 1] !== 0x0a) throw malformed(`record at byte ${pos} does not end with a newline`);
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw malformed(`record at byte ${pos} has no "="`);
    const key = decodeUtf8(data.subarray(space + 1, eq), 'PAX key');
    if (key === '') throw malformed(`record at byte ${pos} has an empty key`);
    records.set(key, data.subarray(eq + 1, end - 1));
    pos = end;
  }
  return records;
}

/** A decimal PAX number (size, uid, gid). */
export function paxInteger(key: string, value: Buffer): number {
  const text = value.toString('latin1');
  if (!/^[0-9]+$/.test(text)) throw malformed(`${key}=${JSON.stringify(text)} is not a number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw malformed(`${key}=${text} is out of range`);
  return n;
}

/** A PAX time: decimal seconds with an optional fraction, possibly negative (`-1.5`). */
export function paxTime(key: string, value: Buffer): Timespec {
  const text = value.toString('latin1');
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  if (!m) throw malformed(`${key}=${JSON.stringify(text)} is not a time`);
  const whole = Number(m[2]);
  const fraction = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (!Number.isSafeInteger(whole)) throw malformed(`${key}=${text} is out of range`);
  if (m[1] !== '-') return { sec: whole, nsec: fraction };
  return fraction === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1_000_000_000 - fraction };
}

function percentDecode(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(text[i] ?? '', 'utf8')) bytes.push(b);
    }
  }
  return decodeUtf8(Buffer.from(bytes), 'xattr name');
}

/**
 * The xattr carried by a PAX key, if it is one: `SCHILY.xattr.<name>` (GNU tar, Go: raw value)
 * or `LIBARCHIVE.xattr.<percent-encoded name>` (bsdtar: base64 value).
 */
export function paxXattr(key: string, value: Buffer): { name: string; value: Buffer } | undefined {
  if (key.startsWith(SCHILY_XATTR)) {
    return { name: key.slice(SCHILY_XATTR.length), value };
  }
  if (key.startsWith(LIBARCHIVE_XATTR)) {
    const text = value.toString('latin1');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw malformed(`${key} is not base64`);
    return { name: percentDecode(key.slice(LIBARCHIVE_XATTR.length)), value: Buffer.from(text, 'base64') };
  }
  return undefined;
}
