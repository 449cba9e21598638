import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findJsonSyntaxError, parseJsonLossless, stringifyJsonLossless } from './json.ts';

describe('parseJsonLossless', () => {
  it('returns bigint only when an integer is beyond 2^53', () => {
    const value = parseJsonLossless('[9007199254740991, 9007199254740993, -9223372036854775808, 1.5, 1e300, 0]');
    assert.deepEqual(value, [9007199254740991, 9007199254740993n, -9223372036854775808n, 1.5, 1e300, 0]);
    // the same numbers alone, in objects, and beside strings of digits (the fast path's edges)
    assert.deepEqual(parseJsonLossless('{"a":[9007199254740991,{"b":1234567890123456}]}'), { a: [9007199254740991, { b: 1234567890123456 }] });
    assert.deepEqual(parseJsonLossless('{"id":"12345678901234567890","n":18446744073709551615}'), { id: '12345678901234567890', n: 18446744073709551615n });
    assert.deepEqual(parseJsonLossless('{"limit":-1,"max":9999999999999999}'), { limit: -1, max: 9999999999999999n });
  });

  it('keeps a __proto__ key as data when it is in the text', () => {
    const value = parseJsonLossless('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(value), ['__proto__']);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  });
});

describe('stringifyJsonLossless', () => {
  it('writes bigints as bare integers when serializing', () => {
    assert.equal(stringifyJsonLossless({ hard: 18446744073709551615n, soft: 1 }, 0), '{"hard":18446744073709551615,"soft":1}');
    assert.equal(stringifyJsonLossless({ a: [1, 'x', { b: null }] }, 0), '{"a":[1,"x",{"b":null}]}');
    assert.equal(stringifyJsonLossless({ a: [1, { b: -9223372036854775808n }] }), '{\n\t"a": [\n\t\t1,\n\t\t{\n\t\t\t"b": -9223372036854775808\n\t\t}\n\t]\n}');
  });
});

describe('findJsonSyntaxError', () => {
  it('returns undefined when the text is valid JSON', () => {
    assert.equal(findJsonSyntaxError(' {"a": [1, -2.5e3, "x\\u00e9\\n", true, false, null]} '), undefined);
  });

  it('points at the offending character with line and column', () => {
    assert.deepEqual(findJsonSyntaxError('{\n  "a": 1,\n}'), { offset: 12, line: 3, column: 1, reason: `expected a property name in double quotes, found '}'` });
    assert.deepEqual(findJsonSyntaxError('[1 2]'), { offset: 3, line: 1, column: 4, reason: `expected ',' or ']' after array element, found '2'` });
    assert.equal(findJsonSyntaxError('{"a": tru}')?.offset, 6);
    assert.equal(findJsonSyntaxError('"a\tb"')?.reason, 'control character in string (escape it)');
    assert.equal(findJsonSyntaxError('{} x')?.reason, `unexpected 'x' after the end of the document`);
    assert.equal(findJsonSyntaxError('01')?.offset, 1);
  });

  it('agrees with JSON.parse on which texts are valid', () => {
    const samples = ['{}', '[]', '{"a":}', '[1,]', '"\\x"', '-', '1.', '.5', 'nul', '{"a" 1}', '[[[]]]', '"\\ud800"', '  '];
    for (const text of samples) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      assert.equal(findJsonSyntaxError(text) === undefined, valid, text);
    }
  });
});
