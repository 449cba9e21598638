/**
 * Read and check an OCI runtime config (config.json) before anything is created.
 * Every rejection is one BerthError INVALID_ARGUMENT whose message names the field:
 *   invalid config.json: linux.namespaces[3].type: unknown namespace type "foo" (expected one of pid, …)
 * Unknown fields are kept and allowed (forward compatibility, as runc does).
 */
import { BerthError } from '../common/index.ts';
import {
  absolutePath,
  arrayOf,
  boolean,
  child,
  describe,
  entry,
  fail,
  FieldError,
  isJsonObject,
  object,
  optional,
  required,
  string,
  stringArray,
  stringMap,
  type Json,
} from './field-checks.ts';
import { findJsonSyntaxError, parseJsonLossless } from './json.ts';
import { parseMountOptions } from './mount-options.ts';
import type { HookName, Mount, Process, Resources, RuntimeConfig } from './types.ts';
import { checkResources } from './validate-resources.ts';
import { idMappings } from './validate-idmap.ts';
import { checkLinux, type NamespaceIndex } from './validate-linux.ts';
import { checkProcess } from './validate-process.ts';

export const HOOK_NAMES: readonly HookName[] = Object.freeze([
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
]);

/** HOST_NAME_MAX: the longest name sethostname(2)/setdomainname(2) accept. */
const HOST_NAME_MAX = 64;

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Parse and validate the text of a config.json. `source` names the document in messages.
 * Integers beyond 2^53 are kept exact as bigint (see types.ts `Int64`).
 */
export function parseRuntimeConfig(text: string, source = 'config.json'): RuntimeConfig {
  let value: unknown;
  try {
    value = parseJsonLossless(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    const where = findJsonSyntaxError(text);
    const detail =
      where === undefined
        ? `malformed JSON: ${err.message}`
        : `malformed JSON at line ${where.line}, column ${where.column} (offset ${where.offset}): ${where.reason}`;
    throw new BerthError('INVALID_ARGUMENT', `invalid ${source}: ${detail}`, { cause: err });
  }
  return validateRuntimeConfig(value, source);
}

/**
 * Validate a parsed config and return it typed. The input is not modified: the result is
 * a copy in which fields holding null are removed and a missing process.user/uid/gid is 0
 * (what Go's encoding/json, and so runc, reads for them).
 */
export function validateRuntimeConfig(value: unknown, source = 'config.json'): RuntimeConfig {
  if (!isJsonObject(value)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${source}: expected a JSON object at the top level, got ${describe(value)}`);
  }
  let config: Json;
  try {
    config = structuredClone(value);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `invalid ${source}: holds values that are not JSON data`, { cause: err });
  }
  try {
    checkConfig(config);
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    throw new BerthError('INVALID_ARGUMENT', `invalid ${source}: ${err.message}`, err.hint === undefined ? {} : { hint: err.hint });
  }
  return config as RuntimeConfig;
}

function checkConfig(config: Json): void {
  required(config, 'ociVersion', '', ociVersion, 'e.g. "ociVersion": "1.2.0"');
  required(config, 'root', '', root, 'e.g. "root": {"path": "rootfs"}');
  optional(config, 'mounts', '', arrayOf(mount));
  optional(config, 'process', '', checkProcess);
  const hostname = optional(config, 'hostname', '', hostName);
  const domainname = optional(config, 'domainname', '', hostName);
  optional(config, 'hooks', '', hooks);
  optional(config, 'annotations', '', annotations);
  const namespaces: NamespaceIndex = optional(config, 'linux', '', checkLinux)?.namespaces ?? new Map();

  // runc: the uts namespace the container shares must not be changed from inside it.
  for (const [key, name] of [
    ['hostname', hostname],
    ['domainname', domainname],
  ] as const) {
    if (name !== undefined && name !== '' && !namespaces.has('uts')) {
      fail(key, `set to ${JSON.stringify(name)}, but there is no uts namespace in linux.namespaces`, 'add {"type": "uts"} to linux.namespaces, or drop it');
    }
  }
}

function ociVersion(value: unknown, path: string): string {
  const version = string(value, path);
  const match = SEMVER.exec(version);
  if (match === null) fail(path, `${JSON.stringify(version)} is not a version like "1.2.0"`);
  if (match[1] !== '1') fail(path, `unsupported version ${JSON.stringify(version)} (berth reads runtime-spec 1.x)`);
  return version;
}

function root(value: unknown, path: string): Json {
  const r = object(value, path);
  const rootPath = required(r, 'path', path, string, 'the rootfs directory, absolute or relative to the bundle');
  if (rootPath === '') fail(child(path, 'path'), 'is empty', 'the rootfs directory, absolute or relative to the bundle');
  optional(r, 'readonly', path, boolean);
  return r;
}

function mount(value: unknown, path: string): Mount {
  const m = object(value, path);
  required(m, 'destination', path, absolutePath('mount destination'));
  optional(m, 'type', path, string);
  optional(m, 'source', path, string);
  const options = optional(m, 'options', path, stringArray) ?? [];
  const uidMappings = optional(m, 'uidMappings', path, idMappings);
  const gidMappings = optional(m, 'gidMappings', path, idMappings);
  const parsed = parseMountOptions(options);
  if (uidMappings !== undefined || gidMappings !== undefined || parsed.idmap !== undefined) {
    if (!parsed.isBind) fail(path, 'id-mapped mounts must be bind mounts', 'add "bind" or "rbind" to options');
  }
  if ((uidMappings === undefined) !== (gidMappings === undefined)) {
    fail(child(path, uidMappings === undefined ? 'uidMappings' : 'gidMappings'), 'is required when the other of uidMappings/gidMappings is set');
  }
  return m as unknown as Mount;
}

function hostName(value: unknown, path: string): string {
  const name = string(value, path);
  if (name.length > HOST_NAME_MAX) fail(path, `is ${name.length} characters long; the kernel accepts at most ${HOST_NAME_MAX}`);
  return name;
}

function hook(value: unknown, path: string): Json {
  const h = object(value, path);
  required(h, 'path', path, absolutePath('hook program'));
  optional(h, 'args', path, stringArray);
  optional(h, 'env', path, stringArray);
  const timeout = optional(h, 'timeout', path, (v, p) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(p, `expected a whole number of seconds, got ${describe(v)}`);
    return v;
  });
  if (timeout !== undefined && timeout <= 0) fail(child(path, 'timeout'), `must be greater than zero, got ${timeout}`);
  return h;
}

function hooks(value: unknown, path: string): Json {
  const h = object(value, path);
  for (const name of HOOK_NAMES) optional(h, name, path, arrayOf(hook));
  return h;
}

function annotations(value: unknown, path: string): Record<string, string> {
  const map = stringMap(value, path);
  for (const key of Object.keys(map)) if (key === '') fail(entry(path, key), 'annotation keys must not be empty');
  return map;
}

function checkPart<T>(value: unknown, source: string, fieldPath: string, check: (value: unknown, path: string) => T): T {
  try {
    return check(structuredClone(value), fieldPath);
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    throw new BerthError('INVALID_ARGUMENT', `invalid ${source}: ${err.message}`, err.hint === undefined ? {} : { hint: err.hint });
  }
}

/** One `process` object on its own (runc exec --process), with the same rules and messages. */
export function validateProcess(value: unknown, source = 'process.json'): Process {
  return checkPart(value, source, 'process', checkProcess);
}

/** One `linux.resources` object on its own (runc update --resources). */
export function validateResources(value: unknown, source = 'resources.json'): Resources {
  return checkPart(value, source, 'linux.resources', checkResources);
}
