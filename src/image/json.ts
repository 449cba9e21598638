/**
 * JSON from registries and archives: parsed with its nesting bounded (limits.ts), and failing
 * with an error that names the document.
 */
import { BerthError } from '../common/index.ts';
import { MAX_JSON_DEPTH } from './limits.ts';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** How deep arrays and objects nest in JSON text (strings skipped); stops counting past `limit`. */
export function jsonDepth(bytes: Uint8Array, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let isInString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (isInString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) isInString = false;
      continue;
    }
    if (c === QUOTE) isInString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return deepest;
}

/**
 * Parse JSON text, refusing malformed text and nesting deeper than MAX_JSON_DEPTH with an
 * INVALID_ARGUMENT error `invalid <what>: …`.
 */
export function parseJsonBytes(bytes: Uint8Array | string, what: string): unknown {
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  if (jsonDepth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${what}: JSON nested more than ${MAX_JSON_DEPTH} levels deep`);
  }
  try {
    return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${what}: not JSON (${(err as Error).message})`, { cause: err });
  }
}
