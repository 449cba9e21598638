/**
 * JSON for OCI documents, lossless for 64-bit integers: an integer literal beyond
 * Number.MAX_SAFE_INTEGER is read as a bigint (so RLIM_INFINITY 18446744073709551615
 * stays exact) and a bigint is written back as a bare integer literal.
 */

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;
const parseWithSource = JSON.parse as (text: string, reviver: Reviver) => unknown;
const rawJson = (JSON as unknown as { rawJSON: (text: string) => unknown }).rawJSON;

const INTEGER_LITERAL = /^-?(?:0|[1-9]\d*)$/;
/** An integer beyond 2^53 has at least 16 digits: a text without a run of 16 digits has none,
 * and is parsed without the reviver (a call per value: ~0.7 ms for a stored state with its
 * seccomp profile, read several times by every command). */
const SIXTEEN_DIGITS = /\d{16}/;

/** Where and why a text is not JSON. */
export interface JsonSyntaxError {
  offset: number;
  line: number;
  column: number;
  reason: string;
}

/** Parse JSON, keeping unsafe integers exact as bigint. Throws SyntaxError like JSON.parse. */
export function parseJsonLossless(text: string): unknown {
  if (!SIXTEEN_DIGITS.test(text)) return JSON.parse(text);
  return parseWithSource(text, function (_key, value, context) {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined) {
      if (INTEGER_LITERAL.test(context.source)) return BigInt(context.source);
    }
    return value;
  });
}

/** JSON text of a value that may hold bigints (written as integer literals). */
export function stringifyJsonLossless(value: unknown, indent: string | number = '\t'): string {
  // without a replacer first (a call per value costs ~1 ms for a state with its seccomp
  // profile): JSON.stringify throws a TypeError at the first bigint, and only then is it needed
  try {
    return JSON.stringify(value, null, indent);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? rawJson(v.toString()) : v), indent);
}

/**
 * Locate the first syntax error of a text that JSON.parse rejected. V8 does not always
 * report a position, so this scans the text itself. Returns undefined for valid JSON.
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let at = 0;
  const error = (reason: string, offset = at): never => {
    throw new ScanError(offset, reason);
  };
  const skipSpace = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at] as string)) at++;
  };
  const describeHere = () => (at >= text.length ? 'end of input' : `'${text[at] as string}'`);
  const expectLiteral = (word: string) => {
    if (text.startsWith(word, at)) at += word.length;
    else error(`unexpected ${describeHere()}`);
  };
  const scanString = () => {
    at++; // opening quote
    for (;;) {
      if (at >= text.length) error('unterminated string');
      const ch = text.charCodeAt(at);
      if (ch === 0x22) {
        at++;
        return;
      }
      if (ch < 0x20) error('control character in string (escape it)');
      if (ch === 0x5c) {
        const next = text[at + 1];
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) error('bad \\u escape in string');
          at += 6;
        } else if (next !== undefined && '"\\/bfnrt'.includes(next)) at += 2;
        else error('bad escape in string');
      } else at++;
    }
  };
  const scanNumber = () => {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at));
    if (match === null) error(`unexpected ${describeHere()}`);
    else at += match[0].length;
  };
  const scanValue = (depth: number): void => {
    if (depth > 1000) error('nesting too deep');
    skipSpace();
    const ch = text[at];
    if (ch === '{') {
      at++;
      skipSpace();
      if (text[at] === '}') {
        at++;
        return;
      }
      for (;;) {
        skipSpace();
        if (text[at] !== '"') error(`expected a property name in double quotes, found ${describeHere()}`);
        scanString();
        skipSpace();
        if (text[at] !== ':') error(`expected ':' after property name, found ${describeHere()}`);
        at++;
        scanValue(depth + 1);
        skipSpace();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === '}') {
          at++;
          return;
        }
        error(`expected ',' or '}' after property value, found ${describeHere()}`);
      }
    } else if (ch === '[') {
      at++;
      skipSpace();
      if (text[at] === ']') {
        at++;
        return;
      }
      for (;;) {
        scanValue(depth + 1);
        skipSpace();
        if (text[at] === ',') {
          at++;
          continue;
        }
        if (text[at] === ']') {
          at++;
          return;
        }
        error(`expected ',' or ']' after array element, found ${describeHere()}`);
      }
    } else if (ch === '"') scanString();
    else if (ch === 't') expectLiteral('true');
    else if (ch === 'f') expectLiteral('false');
    else if (ch === 'n') expectLiteral('null');
    else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) scanNumber();
    else error(at >= text.length ? 'unexpected end of input' : `unexpected ${describeHere()}`);
  };

  try {
    scanValue(0);
    skipSpace();
    if (at < text.length) error(`unexpected ${describeHere()} after the end of the document`);
    return undefined;
  } catch (err) {
    if (!(err instanceof ScanError)) throw err;
    const before = text.slice(0, err.offset);
    const line = before.split('\n').length;
    const column = err.offset - (before.lastIndexOf('\n') + 1) + 1;
    return { offset: err.offset, line, column, reason: err.reason };
  }
}

class ScanError extends Error {
  readonly offset: number;
  readonly reason: string;
  constructor(offset: number, reason: string) {
    super(reason);
    this.offset = offset;
    this.reason = reason;
  }
}
