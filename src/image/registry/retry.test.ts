import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BerthError } from '../../common/index.ts';
import { backoffDelay, fetchWithRetry, parseRetryAfter, type RetryPolicy } from './retry.ts';

const FAST: RetryPolicy = { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 50 };

function scripted(steps: Array<number | Error | [number, Record<string, string>]>): { fetchImpl: typeof fetch; times: number[] } {
  const times: number[] = [];
  let i = 0;
  const fetchImpl = (async () => {
    times.push(Date.now());
    const step = steps[Math.min(i++, steps.length - 1)];
    if (step instanceof Error) throw step;
    const [status, headers] = Array.isArray(step) ? step : [step as number, {}];
    return new Response(status === 204 ? null : 'body', { status, headers });
  }) as typeof fetch;
  return { fetchImpl, times };
}

describe('fetchWithRetry', () => {
  it('retries 503 and 429 until the registry answers', async () => {
    const { fetchImpl, times } = scripted([503, 429, 200]);
    const res = await fetchWithRetry(fetchImpl, 'http://r/x', {}, FAST);
    assert.equal(res.status, 200);
    assert.equal(times.length, 3);
  });

  it('does not retry 404 or 401', async () => {
    for (const status of [404, 401]) {
      const { fetchImpl, times } = scripted([status, 200]);
      assert.equal((await fetchWithRetry(fetchImpl, 'http://r/x', {}, FAST)).status, status);
      assert.equal(times.length, 1);
    }
  });

  it('waits as long as Retry-After says, capped by maxDelayMs', async () => {
    const { fetchImpl, times } = scripted([[429, { 'Retry-After': '1' }], 200]);
    await fetchWithRetry(fetchImpl, 'http://r/x', {}, { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 300 });
    const waited = (times[1] ?? 0) - (times[0] ?? 0);
    assert.ok(waited >= 280 && waited < 900, `waited ${waited} ms`);
  });

  it('returns the last error status when retries run out', async () => {
    const { fetchImpl, times } = scripted([502]);
    assert.equal((await fetchWithRetry(fetchImpl, 'http://r/x', {}, FAST)).status, 502);
    assert.equal(times.length, 4);
  });

  it('retries network errors, then reports the registry UNAVAILABLE', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const ok = scripted([refused, 200]);
    assert.equal((await fetchWithRetry(ok.fetchImpl, 'http://r/x', {}, FAST)).status, 200);
    const down = scripted([refused]);
    await assert.rejects(fetchWithRetry(down.fetchImpl, 'http://r:5000/x', {}, FAST), (err: BerthError) => {
      assert.equal(err.code, 'UNAVAILABLE');
      assert.equal(err.message, 'cannot reach r:5000: ECONNREFUSED');
      return true;
    });
    assert.equal(down.times.length, 4);
  });

  it('stops waiting when aborted', async () => {
    const { fetchImpl } = scripted([503]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(fetchWithRetry(fetchImpl, 'http://r/x', { signal: controller.signal }, { maxRetries: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 }), (err: BerthError) => err.code === 'CANCELED');
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter and stays under the cap', () => {
    const policy: RetryPolicy = { maxRetries: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    for (let i = 0; i < 50; i++) {
      const d0 = backoffDelay(0, policy);
      const d3 = backoffDelay(3, policy);
      assert.ok(d0 >= 50 && d0 <= 100, `attempt 0: ${d0}`);
      assert.ok(d3 >= 400 && d3 <= 800, `attempt 3: ${d3}`);
      assert.ok(backoffDelay(20, policy) <= 1000);
    }
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });
});
