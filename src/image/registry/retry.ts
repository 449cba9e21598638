/**
 * HTTP requests retried the way registries ask for: on network errors, 408, 429 and 5xx
 * gateway/availability statuses, with capped exponential backoff and jitter, waiting as long
 * as `Retry-After` says (capped too).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../common/index.ts';

export interface RetryPolicy {
  /** Retries after the first attempt (default 4). */
  maxRetries: number;
  /** First backoff delay; doubles each retry (default 250 ms). */
  baseDelayMs: number;
  /** Longest wait between attempts, Retry-After included (default 20 s). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 4, baseDelayMs: 250, maxDelayMs: 20_000 };

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRY_STATUSES.has(status);
}

/** Milliseconds a `Retry-After` value (seconds or an HTTP date) asks to wait, if it is valid. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Backoff before retry number `attempt` (0-based): base·2^attempt, jittered to 50–100 %, capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(exp * (0.5 + Math.random() / 2));
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** What a failed fetch() says about the network, e.g. `ECONNREFUSED`. */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/**
 * `fetchImpl(url, init)` until it answers with a status not worth retrying, or retries run
 * out (then the last response is returned, or the network error thrown as UNAVAILABLE).
 */
export async function fetchWithRetry(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): Promise<Response> {
  const signal = init.signal ?? undefined;
  for (let attempt = 0; ; attempt++) {
    let delay: number;
    try {
      const res = await fetchImpl(url, init);
      if (!isRetryableStatus(res.status) || attempt >= policy.maxRetries) return res;
      delay = Math.min(policy.maxDelayMs, parseRetryAfter(res.headers.get('retry-after')) ?? backoffDelay(attempt, policy));
      await res.body?.cancel().catch(() => {});
    } catch (err) {
      if (isAbortError(err) || signal?.aborted) throw new BerthError('CANCELED', `request to ${url} was canceled`, { cause: err });
      if (attempt >= policy.maxRetries) {
        throw new BerthError('UNAVAILABLE', `cannot reach ${new URL(url).host}: ${networkReason(err)}`, {
          cause: err,
          hint: 'check the registry address and your network',
        });
      }
      delay = backoffDelay(attempt, policy);
    }
    try {
      await sleep(delay, undefined, signal ? { signal } : {});
    } catch (err) {
      throw new BerthError('CANCELED', `request to ${url} was canceled`, { cause: err });
    }
  }
}
