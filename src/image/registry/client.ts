/**
 * A client of the distribution (OCI distribution-spec) API: manifests and blobs by digest,
 * with authentication (auth.ts), retries (retry.ts) and redirects followed by hand so that
 * credentials never go to another host (blob storage behind a CDN gets no Authorization).
 * Everything it returns is verified: a manifest against the digest asked for or the
 * registry's Docker-Content-Digest; blobs are verified by whoever stores them.
 */
import { createHash } from 'node:crypto';
import { BerthError, RegistryError } from '../../common/index.ts';
import { markInterrupted } from '../blob.ts';
import { MAX_MANIFEST_BYTES, formatBytes } from '../limits.ts';
import { MANIFEST_MEDIA_TYPES } from '../manifest.ts';
import type { ImageReference } from '../reference.ts';
import { Authenticator, loginHint } from './auth.ts';
import { findCredentials, readAuthFile, removeCredentials, saveCredentials, type AuthFile, type Credentials } from './auth-file.ts';
import { parseWwwAuthenticate } from './challenge.ts';
import { normalizeRegistry, registryBaseUrl } from './hosts.ts';
import { DEFAULT_RETRY_POLICY, fetchWithRetry, type RetryPolicy } from './retry.ts';
import { STREAM_BODY, httpFetch, streamedBody } from './http-stream.ts';

export interface RegistryClientOptions {
  /** docker config.json-style credentials file; without it requests are anonymous. */
  authFile?: string;
  /** Registries reached over plain HTTP (loopback registries always are). */
  insecureRegistries?: string[];
  fetchImpl?: typeof fetch;
  userAgent?: string;
  /** Retries of a request after network errors, 408, 429 and 5xx (default 4). */
  maxRetries?: number;
  /** First retry delay in ms, doubled each time (default 250). */
  retryBaseDelayMs?: number;
  /** Longest retry delay in ms, Retry-After included (default 20000). */
  retryMaxDelayMs?: number;
}

export interface ManifestResult {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface FetchBlobOptions extends RequestOptions {
  /** Start at this byte (HTTP Range); the stream then yields the blob from `offset` on. */
  offset?: number;
  /**
   * The blob's size as its descriptor gives it: an answer whose Content-Length says more is
   * refused before its body is read (whoever stores the blob stops at this size too).
   */
  size?: number;
}

interface SendInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
  /** Stream a 2xx body outside fetch (see http-stream.ts); for blobs. */
  isStreamed?: boolean;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function pullScope(ref: ImageReference): string {
  return `repository:${ref.path}:pull`;
}

function hashOf(data: Uint8Array, algorithm: string): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** The error code for an unexpected status: the registry's fault (5xx, 429) or the request's. */
function codeFor(status: number): 'UNAVAILABLE' | 'INVALID_ARGUMENT' {
  return status >= 500 || status === 429 || status < 400 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT';
}

/** `CODE: message` of a distribution error body, or '' when it has none. */
async function errorDetail(res: Response): Promise<string> {
  try {
    const text = (await res.text()).slice(0, 64 * 1024);
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const first = body.errors?.[0];
    if (!first) return '';
    return [first.code?.toLowerCase().replaceAll('_', ' '), first.message].filter(Boolean).join(': ');
  } catch {
    return '';
  }
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** Why a body broke off: `aborted: ECONNRESET`, `terminated: other side closed`. */
function breakReason(err: unknown): string {
  const e = err as { message?: string; code?: unknown; cause?: { message?: unknown } };
  const parts = [e?.message ?? String(err), e?.code, e?.cause?.message].filter((p): p is string => typeof p === 'string' && p !== '');
  return [...new Set(parts)].join(': ');
}

/** The error of a body that broke off after `received` bytes: UNAVAILABLE, and worth resuming. */
function brokenBody(url: string, status: number, what: string, received: number, err: unknown): RegistryError {
  const host = URL.parse(url)?.host ?? url;
  return markInterrupted(new RegistryError('UNAVAILABLE', `the connection to ${host} broke while downloading ${what}, after ${received} bytes (${breakReason(err)})`, { status, url }, {
    cause: err,
    hint: 'check the network and pull again (what arrived of a layer is kept for the next pull to resume)',
  }));
}

/** An answer's body, as it streams, with a network failure turned into `brokenBody`. */
async function* guardedBody(body: AsyncIterable<Uint8Array>, res: Response, what: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  try {
    for await (const chunk of body) {
      received += chunk.length;
      yield chunk;
    }
  } catch (err) {
    if (isAbortError(err) || err instanceof BerthError) throw err;
    throw brokenBody(res.url, res.status, what, received, err);
  }
}

function tooLarge(what: string, size: number, limit: number): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${what} is ${size} bytes, more than the ${formatBytes(limit)} berth reads`, {
    hint: 'the registry sent something that is not a manifest',
  });
}

/** A body of at most `limit` bytes, refused unread when its Content-Length says it is larger. */
async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(what, declared, limit);
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of guardedBody(lockedBody(res), res, what)) {
    length += chunk.length;
    if (length > limit) {
      await res.body?.cancel().catch(() => {});
      throw tooLarge(what, length, limit);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** Skip the first `count` bytes of a stream (for servers that ignore Range). */
async function* skipBytes(source: AsyncIterable<Uint8Array>, count: number): AsyncGenerator<Uint8Array> {
  let left = count;
  for await (const chunk of source) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

/**
 * A fetch Response's body, locked at once. undici cancels a body that is neither locked nor
 * read once its Response is garbage collected, and the caller keeps only the body: a GC before
 * it starts reading (after a few awaits, e.g. opening the file to write to) would end the blob
 * after 0 bytes.
 */
function lockedBody(res: Response): AsyncIterable<Uint8Array> {
  if (res.body === null) return (async function* () {})();
  const iterator = res.body[Symbol.asyncIterator]();
  return { [Symbol.asyncIterator]: () => iterator };
}

export class RegistryClient {
  readonly authFile: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #insecure: string[];
  readonly #userAgent: string;
  readonly #retry: RetryPolicy;
  readonly #auth: Authenticator;
  #authDoc: Promise<AuthFile> | undefined;

  constructor(opts: RegistryClientOptions = {}) {
    this.authFile = opts.authFile;
    this.#fetch = opts.fetchImpl ?? httpFetch;
    this.#insecure = opts.insecureRegistries ?? [];
    this.#userAgent = opts.userAgent ?? 'berth/0.1';
    this.#retry = {
      maxRetries: opts.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
      baseDelayMs: opts.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: opts.retryMaxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    };
    this.#auth = new Authenticator({
      fetchImpl: this.#fetch,
      userAgent: this.#userAgent,
      retry: this.#retry,
      credentials: (domain) => this.credentials(domain),
    });
  }

  /** Token requests sent so far (tokens are cached per registry and scope). */
  get tokenRequests(): number {
    return this.#auth.tokenRequests;
  }

  /** `http(s)://host` of a registry's API. */
  baseUrl(domain: string): string {
    return registryBaseUrl(domain, this.#insecure);
  }

  /** The credentials the auth file holds for a registry. */
  async credentials(domain: string): Promise<Credentials | undefined> {
    if (this.authFile === undefined) return undefined;
    this.#authDoc ??= readAuthFile(this.authFile);
    return findCredentials(await this.#authDoc, domain);
  }

  /**
   * A manifest or index by tag or digest. By digest, the bytes must hash to it; by tag, to
   * the registry's Docker-Content-Digest when it sends one.
   */
  async getManifest(ref: ImageReference, accept: readonly string[] = MANIFEST_MEDIA_TYPES, opts: RequestOptions = {}): Promise<ManifestResult> {
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const res = await this.#request(ref.domain, `/v2/${ref.path}/manifests/${reference}`, {
      headers: { Accept: accept.join(', ') },
      ...(opts.signal ? { signal: opts.signal } : {}),
    }, pullScope(ref));
    if (res.status === 404) throw await this.#fail(res, 'NOT_FOUND', `manifest unknown: ${ref.canonical}`);
    if (!res.ok) throw await this.#fail(res, codeFor(res.status), `cannot get manifest of ${ref.canonical}`);
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, `the manifest of ${ref.canonical}`);
    const expected = ref.digest ?? res.headers.get('docker-content-digest') ?? undefined;
    const algorithm = expected?.split(':')[0] ?? 'sha256';
    const actual = ['sha256', 'sha384', 'sha512'].includes(algorithm) ? hashOf(bytes, algorithm) : hashOf(bytes, 'sha256');
    if (expected !== undefined && actual !== expected) {
      throw new RegistryError('INVALID_ARGUMENT', `manifest digest mismatch for ${ref.canonical}: expected ${expected}, got ${actual}`, { status: res.status, url: res.url }, {
        hint: 'the registry sent corrupt or tampered content',
      });
    }
    const header = res.headers.get('content-type')?.split(';')[0]?.trim();
    let mediaType = header && header !== 'application/json' && header !== 'text/plain' ? header : '';
    try {
      const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof declared === 'string' && declared !== '') mediaType = declared;
    } catch {
      // parseManifest reports malformed JSON with context
    }
    return { digest: algorithm === 'sha256' ? actual : hashOf(bytes, 'sha256'), mediaType, bytes };
  }

  /**
   * A blob's bytes (from `offset` on). The caller verifies them (ContentStore.ingest does).
   * Redirects to blob storage are followed without sending credentials to another host.
   */
  async fetchBlob(ref: ImageReference, digest: string, opts: FetchBlobOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const offset = opts.offset ?? 0;
    const headers: Record<string, string> = { Accept: '*/*' };
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const res = await this.#request(ref.domain, `/v2/${ref.path}/blobs/${digest}`, {
      headers,
      isStreamed: true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    }, pullScope(ref));
    if (res.status === 404) throw await this.#fail(res, 'NOT_FOUND', `blob unknown: ${digest} in ${ref.name}`);
    if (res.status === 416) throw await this.#fail(res, 'INVALID_ARGUMENT', `blob ${digest} in ${ref.name} has no byte ${offset}`);
    if (res.status !== 200 && res.status !== 206) throw await this.#fail(res, codeFor(res.status), `cannot get blob ${digest} of ${ref.name}`);
    const streamed = streamedBody(res);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    const expected = opts.size === undefined ? undefined : res.status === 206 ? opts.size - offset : opts.size;
    if (expected !== undefined && declared > expected) {
      streamed?.destroy();
      await res.body?.cancel().catch(() => {});
      throw new RegistryError('INVALID_ARGUMENT', `registry ${ref.domain} answered blob ${digest} of ${ref.name} with ${declared} bytes, but its descriptor says ${opts.size}`, { status: res.status, url: res.url }, {
        hint: 'the registry sent a wrong blob; nothing was stored',
      });
    }
    const body: AsyncIterable<Uint8Array> = guardedBody(streamed ?? lockedBody(res), res, `blob ${digest} of ${ref.name}`);
    if (offset === 0) return body;
    if (res.status === 200) return skipBytes(body, offset);
    const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
    if (start !== undefined && Number(start) !== offset) {
      streamed?.destroy();
      await res.body?.cancel().catch(() => {});
      throw new RegistryError('UNAVAILABLE', `registry answered a range request for ${digest} at byte ${start}, not ${offset}`, { status: res.status, url: res.url });
    }
    return body;
  }

  /** Upload a blob in one request (skipped when the registry has it). Returns its digest. */
  async pushBlob(ref: ImageReference, data: Uint8Array, digest = hashOf(data, 'sha256'), opts: RequestOptions = {}): Promise<string> {
    const scope = `repository:${ref.path}:pull,push`;
    const signal = opts.signal ? { signal: opts.signal } : {};
    const head = await this.#request(ref.domain, `/v2/${ref.path}/blobs/${digest}`, { method: 'HEAD', ...signal }, scope);
    if (head.ok) return digest;
    const start = await this.#request(ref.domain, `/v2/${ref.path}/blobs/uploads/`, { method: 'POST', ...signal }, scope);
    const location = start.headers.get('location');
    if (start.status !== 202 || !location) throw await this.#fail(start, codeFor(start.status), `cannot start upload of ${digest} to ${ref.name}`);
    await start.body?.cancel().catch(() => {});
    const url = new URL(location, this.baseUrl(ref.domain));
    url.searchParams.set('digest', digest);
    const put = await this.#request(ref.domain, url.href, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
      ...signal,
    }, scope);
    if (put.status !== 201) throw await this.#fail(put, codeFor(put.status), `cannot upload ${digest} to ${ref.name}`);
    await put.body?.cancel().catch(() => {});
    return digest;
  }

  /** Put a manifest under the reference's tag (or digest). Returns its digest. */
  async pushManifest(ref: ImageReference, bytes: Uint8Array, mediaType: string, opts: RequestOptions = {}): Promise<string> {
    const digest = hashOf(bytes, 'sha256');
    const res = await this.#request(ref.domain, `/v2/${ref.path}/manifests/${ref.tag ?? ref.digest ?? digest}`, {
      method: 'PUT',
      headers: { 'Content-Type': mediaType },
      body: bytes,
      ...(opts.signal ? { signal: opts.signal } : {}),
    }, `repository:${ref.path}:pull,push`);
    if (res.status !== 201) throw await this.#fail(res, codeFor(res.status), `cannot push manifest to ${ref.canonical}`);
    await res.body?.cancel().catch(() => {});
    return digest;
  }

  /** Check credentials against the registry (`/v2/`) and store them in the auth file. */
  async login(registry: string, username: string, password: string): Promise<void> {
    const authFile = this.#requireAuthFile('login');
    const domain = normalizeRegistry(registry);
    const creds = { username, password };
    const url = `${this.baseUrl(domain)}/v2/`;
    const res = await this.#send(url, { headers: { 'User-Agent': this.#userAgent } });
    await res.body?.cancel().catch(() => {});
    if (res.status === 401) {
      const challenges = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '');
      const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
      if (bearer) {
        await this.#auth.requestToken(domain, bearer, undefined, creds);
      } else if (challenges.some((c) => c.scheme === 'basic')) {
        const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
        const again = await this.#send(url, { headers: { 'User-Agent': this.#userAgent, Authorization: auth } });
        await again.body?.cancel().catch(() => {});
        if (!again.ok) {
          throw new RegistryError('PERMISSION_DENIED', `unauthorized: ${domain} refused the credentials of ${JSON.stringify(username)}`, {
            status: again.status,
            url,
          }, { hint: 'check the user name and password' });
        }
      } else {
        throw new RegistryError('UNAVAILABLE', `${domain} asks for an authentication berth does not know`, { status: 401, url });
      }
    } else if (!res.ok) {
      throw new RegistryError('UNAVAILABLE', `${domain} does not answer as a registry (GET /v2/ gave ${res.status})`, { status: res.status, url });
    }
    await saveCredentials(authFile, domain, creds);
    this.#authDoc = undefined;
    this.#auth.clear(domain);
  }

  /** Remove a registry's credentials from the auth file; false when there were none. */
  async logout(registry: string): Promise<boolean> {
    const authFile = this.#requireAuthFile('logout');
    const domain = normalizeRegistry(registry);
    const isRemoved = await removeCredentials(authFile, domain);
    this.#authDoc = undefined;
    this.#auth.clear(domain);
    return isRemoved;
  }

  #requireAuthFile(verb: string): string {
    if (this.authFile === undefined) throw new BerthError('FAILED_PRECONDITION', `${verb} needs an auth file (RegistryClient option authFile)`);
    return this.authFile;
  }

  /** A request to a registry (path or absolute URL), authorised for `scope`. */
  async #request(domain: string, pathOrUrl: string, init: SendInit, scope: string | undefined): Promise<Response> {
    const url = pathOrUrl.startsWith('/') ? this.baseUrl(domain) + pathOrUrl : pathOrUrl;
    const headers: Record<string, string> = { 'User-Agent': this.#userAgent, ...init.headers };
    const sent = await this.#auth.authorization(domain, scope, init.signal);
    if (sent !== undefined) headers.Authorization = sent;
    let res = await this.#send(url, { ...init, headers });
    if (res.status === 401) {
      const next = await this.#auth.onUnauthorized(domain, res.headers.get('www-authenticate'), scope, sent, init.signal);
      if (next === undefined) throw await this.#denied(res, domain, scope);
      await res.body?.cancel().catch(() => {});
      res = await this.#send(url, { ...init, headers: { ...headers, Authorization: next } });
    }
    if (res.status === 401 || res.status === 403) throw await this.#denied(res, domain, scope);
    return res;
  }

  /** fetch with retries, following redirects by hand; Authorization is dropped on a change of origin. */
  async #send(url: string, init: SendInit): Promise<Response> {
    let current = new URL(url);
    let method = init.method ?? 'GET';
    let body = init.body;
    const headers = { ...init.headers };
    for (let hops = 0; ; hops++) {
      const res = await fetchWithRetry(this.#fetch, current.href, {
        method,
        headers,
        redirect: 'manual',
        ...(init.isStreamed ? { [STREAM_BODY]: true } : {}),
        ...(body ? { body: body as RequestInit['body'] } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
      }, this.#retry);
      const location = res.headers.get('location');
      if (!REDIRECT_STATUSES.has(res.status) || !location || method === 'POST' || method === 'PUT') return res;
      await res.body?.cancel().catch(() => {});
      if (hops >= MAX_REDIRECTS) throw new RegistryError('UNAVAILABLE', `too many redirects from ${url}`, { status: res.status, url: current.href });
      const next = URL.parse(location, current);
      if (next === null || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
        throw new RegistryError('UNAVAILABLE', `${current.host} redirected ${method} ${current.pathname} to ${JSON.stringify(location)}, which is not an HTTP(S) URL`, { status: res.status, url: current.href }, {
          hint: 'the registry (or a proxy in front of it) is misconfigured or hostile; nothing was fetched from there',
        });
      }
      if (next.origin !== current.origin) delete headers.Authorization;
      if (res.status === 303) {
        method = 'GET';
        body = undefined;
      }
      current = next;
    }
  }

  async #denied(res: Response, domain: string, scope: string | undefined): Promise<RegistryError> {
    const repo = scope?.split(':')[1];
    const what = repo ? `access to ${repo} on ${domain} was denied` : `access to ${domain} was denied`;
    return this.#fail(res, 'PERMISSION_DENIED', `unauthorized: ${what}`, loginHint(domain));
  }

  async #fail(res: Response, code: 'NOT_FOUND' | 'PERMISSION_DENIED' | 'INVALID_ARGUMENT' | 'UNAVAILABLE', message: string, hint?: string): Promise<RegistryError> {
    const detail = await errorDetail(res);
    const status = code === 'UNAVAILABLE' || code === 'INVALID_ARGUMENT' ? ` (HTTP ${res.status})` : '';
    const text = `${message}${status}${detail && !message.startsWith(detail) ? ` (${detail})` : ''}`;
    return new RegistryError(code, text, { status: res.status, url: res.url || '' }, hint ? { hint } : {});
  }
}
