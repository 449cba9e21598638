/**
 * Small typed checks for walking an untrusted JSON document. Each names the field path
 * it checks (`linux.namespaces[3].type`) and throws FieldError, which the validator turns
 * into one BerthError. A field holding `null` counts as absent, as Go's encoding/json
 * (and so runc) reads it; optional() deletes such keys so the result matches its type.
 */
import type { Int64 } from './types.ts';

export type Json = Record<string, unknown>;

/** A bad field: its path, what is wrong, and optionally what to do. */
export class FieldError extends Error {
  readonly path: string;
  readonly detail: string;
  readonly hint: string | undefined;

  constructor(path: string, detail: string, hint?: string) {
    super(`${path}: ${detail}`);
    this.name = 'FieldError';
    this.path = path;
    this.detail = detail;
    this.hint = hint;
  }
}

export function fail(path: string, detail: string, hint?: string): never {
  throw new FieldError(path, detail, hint);
}

export const child = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
export const item = (path: string, index: number): string => `${path}[${index}]`;
export const entry = (path: string, key: string): string => `${path}[${JSON.stringify(key)}]`;

/** "a string \"x\"", "a number -1", "an array", … for "got …" in messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
    case 'number':
    case 'bigint':
      return `a number ${value.toString()}`;
    case 'boolean':
      return `a boolean ${String(value)}`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

export function isJsonObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type Check<T> = (value: unknown, path: string) => T;

/** The checked value of `obj[key]`, or undefined when absent or null (null keys are removed). */
export function optional<T>(obj: Json, key: string, path: string, check: Check<T>): T | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (value === null) {
    delete obj[key];
    return undefined;
  }
  return check(value, child(path, key));
}

/** The checked value of `obj[key]`; absent or null is an error. */
export function required<T>(obj: Json, key: string, path: string, check: Check<T>, hint?: string): T {
  const value = obj[key];
  if (value === undefined || value === null) fail(child(path, key), 'is required', hint);
  return check(value, child(path, key));
}

export const object: Check<Json> = (value, path) => {
  if (!isJsonObject(value)) fail(path, `expected an object, got ${describe(value)}`);
  return value;
};

export const string: Check<string> = (value, path) => {
  if (typeof value !== 'string') fail(path, `expected a string, got ${describe(value)}`);
  if (value.includes('\0')) fail(path, 'contains a NUL byte');
  return value;
};

export const boolean: Check<boolean> = (value, path) => {
  if (typeof value !== 'boolean') fail(path, `expected true or false, got ${describe(value)}`);
  return value;
};

/** An integer in [min, max] that fits a JS number; `kind` names the spec type in messages. */
export function integer(min: number, max: number, kind: string): Check<number> {
  return (value, path) => {
    if (typeof value === 'bigint') fail(path, `expected ${kind} between ${min} and ${max}, got ${value.toString()}`);
    if (typeof value !== 'number' || !Number.isInteger(value)) fail(path, `expected ${kind}, got ${describe(value)}`);
    if (value < min || value > max) fail(path, `expected ${kind} between ${min} and ${max}, got ${value}`);
    return value;
  };
}

export const uint16 = integer(0, 0xffff, 'an integer (uint16)');
export const uint32 = integer(0, 0xffff_ffff, 'a non-negative integer (uint32)');
export const int32 = integer(-0x8000_0000, 0x7fff_ffff, 'an integer (int32)');
/** The highest user or group id berth accepts (as runc): 4294967295 is (uid_t)-1, which
 * setresuid(2) reads as "leave unchanged", so an id near it would keep the process root. */
export const MAX_ID = 0x7fff_ffff;
/** A user or group id. */
export const userId = integer(0, MAX_ID, 'a user or group id');

function wideInteger(min: bigint, max: bigint, kind: string): Check<Int64> {
  return (value, path) => {
    let n: bigint;
    if (typeof value === 'bigint') n = value;
    else if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
    else fail(path, `expected ${kind}, got ${describe(value)}`);
    if (n < min || n > max) fail(path, `expected ${kind} between ${min} and ${max}, got ${n}`);
    return value as Int64;
  };
}

export const uint64 = wideInteger(0n, 0xffff_ffff_ffff_ffffn, 'a non-negative integer (uint64)');
export const int64 = wideInteger(-(2n ** 63n), 2n ** 63n - 1n, 'an integer (int64)');

/** An array whose items pass `check`. */
export function arrayOf<T>(check: Check<T>): Check<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) fail(path, `expected an array, got ${describe(value)}`);
    value.forEach((element, i) => check(element, item(path, i)));
    return value as T[];
  };
}

export const stringArray = arrayOf(string);

/** An object whose values are all strings (annotations, sysctl, unified). */
export const stringMap: Check<Record<string, string>> = (value, path) => {
  const obj = object(value, path);
  for (const [key, v] of Object.entries(obj)) {
    if (typeof v !== 'string') fail(entry(path, key), `expected a string, got ${describe(v)}`);
  }
  return obj as Record<string, string>;
};

/** A string from a closed set; the message lists the accepted values. */
export function oneOf<T extends string>(values: readonly T[], what: string, hint?: (v: string) => string | undefined): Check<T> {
  return (value, path) => {
    const s = string(value, path);
    if (!(values as readonly string[]).includes(s)) {
      fail(path, `unknown ${what} ${JSON.stringify(s)} (expected one of ${values.join(', ')})`, hint?.(s));
    }
    return s as T;
  };
}

/** An absolute path ("/..."); `what` names it in the message. */
export function absolutePath(what: string): Check<string> {
  return (value, path) => {
    const s = string(value, path);
    if (!s.startsWith('/')) fail(path, `${what} ${JSON.stringify(s)} is not an absolute path`, `write it starting with "/"`);
    return s;
  };
}

/** Compare two Int64 values exactly. */
export function compareInt64(a: Int64, b: Int64): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
