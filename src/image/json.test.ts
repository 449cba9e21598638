import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../common/index.ts';
import { jsonDepth, parseJsonBytes } from './json.ts';

describe('parseJsonBytes', () => {
  it('refuses JSON with a clear error when it nests deeper than 64 levels, before parsing it', () => {
    for (const text of ['['.repeat(100_000) + ']'.repeat(100_000), '{"a":'.repeat(65) + '1' + '}'.repeat(65)]) {
      assert.throws(() => parseJsonBytes(Buffer.from(text), 'image config'), (err: unknown) =>
        err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message === 'invalid image config: JSON nested more than 64 levels deep');
    }
  });

  it('parses JSON when it nests 64 levels, brackets in strings not counted', () => {
    const text = '['.repeat(63) + '{"s":"[[[[{{{{\\\\\\"[["}' + ']'.repeat(63);
    assert.equal(jsonDepth(Buffer.from(text)), 64);
    assert.equal(JSON.stringify(parseJsonBytes(text, 'x')), text);
  });

  it('names the document when its text is not JSON', () => {
    assert.throws(() => parseJsonBytes('{"a":', 'manifest'), /^BerthError: invalid manifest: not JSON \(/);
  });
});
