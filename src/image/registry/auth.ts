/**
 * Registry authentication as the distribution spec describes it: a request without
 * credentials is answered 401 with a `WWW-Authenticate` challenge; for `Basic` the
 * credentials go with every request, for `Bearer` a token is fetched from the challenge's
 * realm (with the credentials, when there are any) for one scope and cached until it expires.
 * Once a registry has challenged, later requests are authorised up front (no extra 401 per
 * request); concurrent requests for one scope share one token request.
 */
import { RegistryError } from '../../common/index.ts';
import { parseWwwAuthenticate, type Challenge } from './challenge.ts';
import type { Credentials } from './auth-file.ts';
import { fetchWithRetry, type RetryPolicy } from './retry.ts';

export interface AuthenticatorOptions {
  fetchImpl: typeof fetch;
  userAgent: string;
  retry: RetryPolicy;
  credentials: (domain: string) => Promise<Credentials | undefined>;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** Tokens without `expires_in` live 60 s (distribution spec); we renew a little early. */
const DEFAULT_TOKEN_SECONDS = 60;
const RENEW_EARLY_SECONDS = 10;

function basicHeader(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

export function loginHint(domain: string): string {
  return `berth login ${domain}`;
}

export class Authenticator {
  readonly #opts: AuthenticatorOptions;
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();
  /** Number of token requests sent (for tests and debugging). */
  tokenRequests = 0;

  constructor(opts: AuthenticatorOptions) {
    this.#opts = opts;
  }

  /** The Authorization header for a request, when the registry is known to want one. */
  async authorization(domain: string, scope: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.#challenges.get(domain);
    return challenge ? this.#authorize(domain, challenge, scope, signal) : undefined;
  }

  /**
   * After a 401: learn the registry's challenge and return the header to retry with, or
   * undefined when there is nothing new to try (no usable challenge, or `refused` again).
   */
  async onUnauthorized(
    domain: string,
    header: string | null,
    scope: string | undefined,
    refused: string | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const challenges = parseWwwAuthenticate(header ?? '');
    const challenge = challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
    if (!challenge) return undefined;
    this.#challenges.set(domain, challenge);
    const key = `${domain}\n${scope ?? ''}`;
    if (refused !== undefined && this.#tokens.get(key)?.header === refused) this.#tokens.delete(key);
    const next = await this.#authorize(domain, challenge, scope, signal);
    return next === refused ? undefined : next;
  }

  /** Forget tokens (all, or one registry's). */
  clear(domain?: string): void {
    for (const key of this.#tokens.keys()) if (domain === undefined || key.startsWith(`${domain}\n`)) this.#tokens.delete(key);
    if (domain === undefined) this.#challenges.clear();
    else this.#challenges.delete(domain);
  }

  async #authorize(domain: string, challenge: Challenge, scope: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    if (challenge.scheme === 'basic') {
      const creds = await this.#opts.credentials(domain);
      return creds ? basicHeader(creds) : undefined;
    }
    const key = `${domain}\n${scope ?? ''}`;
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(domain, challenge, scope, signal).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #fetchToken(domain: string, challenge: Challenge, scope: string | undefined, signal?: AbortSignal): Promise<string> {
    const key = `${domain}\n${scope ?? ''}`;
    const token = await this.requestToken(domain, challenge, scope, await this.#opts.credentials(domain), signal);
    const seconds = token.expiresIn;
    const header = `Bearer ${token.token}`;
    this.#tokens.set(key, { header, expiresAt: Date.now() + (seconds - Math.min(RENEW_EARLY_SECONDS, seconds / 2)) * 1000 });
    return header;
  }

  /** Ask the challenge's realm for a token (used by login too, with no scope). */
  async requestToken(
    domain: string,
    challenge: Challenge,
    scope: string | undefined,
    creds: Credentials | undefined,
    signal?: AbortSignal,
  ): Promise<{ token: string; expiresIn: number }> {
    const url = URL.parse(challenge.params.realm ?? '');
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new RegistryError('UNAVAILABLE', `${domain} asks for a token from ${JSON.stringify(challenge.params.realm ?? '')}, which is not an HTTP(S) URL`, { status: 401, url: challenge.params.realm ?? '' }, {
        hint: 'the registry is misconfigured',
      });
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    if (scope) url.searchParams.set('scope', scope);
    if (creds) url.searchParams.set('account', creds.username);
    const headers: Record<string, string> = { 'User-Agent': this.#opts.userAgent, Accept: 'application/json' };
    if (creds) headers.Authorization = basicHeader(creds);
    this.tokenRequests++;
    const res = await fetchWithRetry(this.#opts.fetchImpl, url.href, { headers, ...(signal ? { signal } : {}) }, this.#opts.retry);
    const info = { status: res.status, url: url.href };
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => {});
      throw new RegistryError(
        'PERMISSION_DENIED',
        creds ? `unauthorized: ${domain} refused the credentials of ${JSON.stringify(creds.username)}` : `unauthorized: ${domain} requires authentication`,
        info,
        { hint: loginHint(domain) },
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new RegistryError('UNAVAILABLE', `token server of ${domain} (${url.host}) answered ${res.status}`, info);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch (err) {
      throw new RegistryError('UNAVAILABLE', `token server of ${domain} (${url.host}) sent a malformed answer`, info, { cause: err });
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new RegistryError('UNAVAILABLE', `token server of ${domain} (${url.host}) sent no token`, info);
    }
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    return { token, expiresIn };
  }
}
