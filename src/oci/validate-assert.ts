/** Test helpers only: build variants of a config and assert how validation rejects them. */
import assert from 'node:assert/strict';
import { BerthError } from '../common/index.ts';
import { fullConfig, minimalConfig } from './config-fixture.ts';
import { validateRuntimeConfig } from './validate.ts';

// Tests reach into configs freely, including with values of the wrong type.
export type Loose = Record<string, any>;

/** A fresh minimal (or full) config changed by `mutate`. */
export function variant(mutate: (config: Loose) => void, base: 'minimal' | 'full' = 'minimal'): Loose {
  const config = (base === 'full' ? fullConfig() : minimalConfig()) as Loose;
  mutate(config);
  return config;
}

/** Assert validation fails with INVALID_ARGUMENT, a message naming `path`, and containing `detail`. */
export function assertRejected(config: unknown, path: string, detail: string | RegExp, run = validateRuntimeConfig): BerthError {
  let caught: unknown;
  try {
    run(config);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof BerthError, `expected a BerthError, got ${String(caught)}`);
  assert.equal(caught.code, 'INVALID_ARGUMENT');
  const prefix = `invalid config.json: ${path}: `;
  assert.ok(caught.message.startsWith(prefix), `message ${JSON.stringify(caught.message)} should start with ${JSON.stringify(prefix)}`);
  if (typeof detail === 'string') assert.ok(caught.message.includes(detail), `message ${JSON.stringify(caught.message)} should include ${JSON.stringify(detail)}`);
  else assert.match(caught.message, detail);
  return caught;
}
