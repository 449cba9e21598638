/**
 * Random bytes from the kernel (/dev/urandom) without loading node:crypto, whose start-up
 * (~4 ms) would be most of what a `berth run` spends on IDs.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export function randomBytesSync(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let got = 0; got < n; ) got += readSync(fd, buf, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** 64-bit FNV-1a of a string, as 16 hex digits: a stable short tag, not a secret. */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
