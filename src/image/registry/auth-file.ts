/**
 * Registry credentials in docker's config.json format, which podman, skopeo and buildah read
 * too: `{"auths": {"<registry>": {"auth": base64("user:password")}}}`. Other keys of the file
 * are kept as they are. Writes are atomic and the file is mode 0600.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { BerthError, isErrno, writeFileAtomic } from '../../common/index.ts';
import { authKey, normalizeRegistry } from './hosts.ts';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  [key: string]: unknown;
}

export interface AuthFile {
  auths?: Record<string, AuthEntry>;
  [key: string]: unknown;
}

/** `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The auth file's content; an absent file is empty. */
export async function readAuthFile(path: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return {};
    throw err;
  }
  let doc: unknown;
  try {
    doc = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `auth file ${JSON.stringify(path)} is not valid JSON`, { cause: err, hint: 'fix or remove the file and log in again' });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new BerthError('INVALID_ARGUMENT', `auth file ${JSON.stringify(path)} is not a JSON object`);
  }
  return doc as AuthFile;
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0) return undefined;
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** The credentials stored for a registry (keys are matched as docker does: scheme and path ignored). */
export function findCredentials(doc: AuthFile, registry: string): Credentials | undefined {
  const want = normalizeRegistry(registry);
  const entries = Object.entries(doc.auths ?? {});
  const exact = entries.find(([key]) => key === authKey(registry));
  for (const [key, entry] of exact ? [exact, ...entries] : entries) {
    if (normalizeRegistry(key) !== want || typeof entry !== 'object' || entry === null) continue;
    const creds = decodeEntry(entry);
    if (creds) return creds;
  }
  return undefined;
}

async function writeAuthFile(path: string, doc: AuthFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, JSON.stringify(doc, null, '\t') + '\n', 0o600);
}

/** Store credentials for a registry, replacing any it had. */
export async function saveCredentials(path: string, registry: string, creds: Credentials): Promise<void> {
  const doc = await readAuthFile(path);
  const want = normalizeRegistry(registry);
  const auths: Record<string, AuthEntry> = {};
  for (const [key, entry] of Object.entries(doc.auths ?? {})) if (normalizeRegistry(key) !== want) auths[key] = entry;
  auths[authKey(registry)] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeAuthFile(path, { ...doc, auths });
}

/** Forget a registry's credentials; false when there were none. */
export async function removeCredentials(path: string, registry: string): Promise<boolean> {
  const doc = await readAuthFile(path);
  const want = normalizeRegistry(registry);
  const auths: Record<string, AuthEntry> = {};
  let isRemoved = false;
  for (const [key, entry] of Object.entries(doc.auths ?? {})) {
    if (normalizeRegistry(key) === want) isRemoved = true;
    else auths[key] = entry;
  }
  if (isRemoved) await writeAuthFile(path, { ...doc, auths });
  return isRemoved;
}
