import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../common/index.ts';
import { familiarName, formatReference, isValidDigest, parseReference } from './reference.ts';

const HEX = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const DIGEST = `sha256:${HEX}`;

describe('parseReference', () => {
  const cases: Array<[string, { domain: string; path: string; tag?: string; digest?: string; familiar: string; canonical: string }]> = [
    ['busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest', familiar: 'busybox', canonical: 'docker.io/library/busybox:latest' }],
    ['busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36', familiar: 'busybox', canonical: 'docker.io/library/busybox:1.36' }],
    ['user/app', { domain: 'docker.io', path: 'user/app', tag: 'latest', familiar: 'user/app', canonical: 'docker.io/user/app:latest' }],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest', familiar: 'busybox', canonical: 'docker.io/library/busybox:latest' }],
    ['index.docker.io/user/app:v1', { domain: 'docker.io', path: 'user/app', tag: 'v1', familiar: 'user/app', canonical: 'docker.io/user/app:v1' }],
    ['docker.io/library/a/b', { domain: 'docker.io', path: 'library/a/b', tag: 'latest', familiar: 'library/a/b', canonical: 'docker.io/library/a/b:latest' }],
    ['localhost:5000/ns/name:tag', { domain: 'localhost:5000', path: 'ns/name', tag: 'tag', familiar: 'localhost:5000/ns/name', canonical: 'localhost:5000/ns/name:tag' }],
    ['localhost/app', { domain: 'localhost', path: 'app', tag: 'latest', familiar: 'localhost/app', canonical: 'localhost/app:latest' }],
    ['127.0.0.1:5000/x', { domain: '127.0.0.1:5000', path: 'x', tag: 'latest', familiar: '127.0.0.1:5000/x', canonical: '127.0.0.1:5000/x:latest' }],
    ['[::1]:5000/x:y', { domain: '[::1]:5000', path: 'x', tag: 'y', familiar: '[::1]:5000/x', canonical: '[::1]:5000/x:y' }],
    ['ghcr.io/org/team/tool', { domain: 'ghcr.io', path: 'org/team/tool', tag: 'latest', familiar: 'ghcr.io/org/team/tool', canonical: 'ghcr.io/org/team/tool:latest' }],
    ['Registry/app', { domain: 'Registry', path: 'app', tag: 'latest', familiar: 'Registry/app', canonical: 'Registry/app:latest' }],
    [`name@${DIGEST}`, { domain: 'docker.io', path: 'library/name', digest: DIGEST, familiar: 'name', canonical: `docker.io/library/name@${DIGEST}` }],
    [`name:tag@${DIGEST}`, { domain: 'docker.io', path: 'library/name', tag: 'tag', digest: DIGEST, familiar: 'name', canonical: `docker.io/library/name:tag@${DIGEST}` }],
    [`localhost:5000/x@${DIGEST}`, { domain: 'localhost:5000', path: 'x', digest: DIGEST, familiar: 'localhost:5000/x', canonical: `localhost:5000/x@${DIGEST}` }],
    ['ns/a.b_c__d---e/f-g:TAG_1.x-y', { domain: 'docker.io', path: 'ns/a.b_c__d---e/f-g', tag: 'TAG_1.x-y', familiar: 'ns/a.b_c__d---e/f-g', canonical: 'docker.io/ns/a.b_c__d---e/f-g:TAG_1.x-y' }],
    ['a.b/c', { domain: 'a.b', path: 'c', tag: 'latest', familiar: 'a.b/c', canonical: 'a.b/c:latest' }],
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000', familiar: 'localhost', canonical: 'docker.io/library/localhost:5000' }],
  ];
  for (const [input, want] of cases) {
    it(`normalises ${JSON.stringify(input)} when parsed`, () => {
      const ref = parseReference(input);
      assert.deepEqual({ ...ref, name: undefined }, { ...want, name: undefined });
      assert.equal(ref.name, `${want.domain}/${want.path}`);
    });
  }

  it('adds no tag when defaultTag is false', () => {
    const ref = parseReference('busybox', { defaultTag: false });
    assert.equal(ref.tag, undefined);
    assert.equal(ref.canonical, 'docker.io/library/busybox');
  });

  const bad: Array<[string, string]> = [
    ['', 'invalid reference "": repository name must have at least one component'],
    ['Foo', 'invalid reference "Foo": repository name must be lowercase'],
    ['user/App', 'invalid reference "user/App": repository name must be lowercase'],
    ['docker.io/Foo', 'invalid reference "docker.io/Foo": repository name must be lowercase'],
    ['a:-tag', 'invalid reference "a:-tag": invalid tag "-tag"'],
    ['a:.tag', 'invalid reference "a:.tag": invalid tag ".tag"'],
    [`a:${'t'.repeat(129)}`, `invalid reference "a:${'t'.repeat(129)}": invalid tag "${'t'.repeat(129)}"`],
    ['a:', 'invalid reference "a:": invalid tag ""'],
    ['a@sha256:abc', 'invalid reference "a@sha256:abc": invalid sha256 digest (expected 64 lowercase hex digits)'],
    [`a@sha256:${HEX.toUpperCase()}`, `invalid reference "a@sha256:${HEX.toUpperCase()}": invalid sha256 digest (expected 64 lowercase hex digits)`],
    [`a@md5:${HEX}`, `invalid reference "a@md5:${HEX}": unsupported digest algorithm "md5"`],
    ['a@', 'invalid reference "a@": invalid digest "" (expected sha256: followed by 64 lowercase hex digits)'],
    [HEX, `invalid reference "${HEX}": cannot specify 64-byte hexadecimal strings`],
    ['a//b', 'invalid reference "a//b": invalid reference format (empty path component)'],
    ['a/', 'invalid reference "a/": invalid reference format (empty path component)'],
    ['-a', 'invalid reference "-a": invalid repository name component "-a"'],
    ['a..b', 'invalid reference "a..b": invalid repository name component "a..b"'],
    ['a___b', 'invalid reference "a___b": invalid repository name component "a___b"'],
    ['a b', 'invalid reference "a b": invalid repository name component "a b"'],
    ['https://host/x', 'invalid reference "https://host/x": invalid registry domain "https:"'],
    ['-host.com/x', 'invalid reference "-host.com/x": invalid registry domain "-host.com"'],
    [`x/${'a'.repeat(250)}`, `invalid reference "x/${'a'.repeat(250)}": repository name must not be more than 255 characters`],
    [':tag', 'invalid reference ":tag": repository name must have at least one component'],
    ['127.0.0.1:99999/a', 'invalid reference "127.0.0.1:99999/a": port 99999 of registry "127.0.0.1:99999" is out of range'],
    ['localhost:0/a', 'invalid reference "localhost:0/a": port 0 of registry "localhost:0" is out of range'],
    ['[:::::]/a', 'invalid reference "[:::::]/a": invalid registry domain "[:::::]"'],
  ];
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input.slice(0, 40))} with a clear error when malformed`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => err instanceof BerthError && err.code === 'INVALID_ARGUMENT' && err.message === message,
      );
    });
  }
});

describe('familiarName', () => {
  it('shortens docker hub names when they are official or user repos', () => {
    assert.equal(familiarName('docker.io/library/busybox'), 'busybox');
    assert.equal(familiarName('docker.io/user/app'), 'user/app');
    assert.equal(familiarName('docker.io/library/a/b'), 'library/a/b');
    assert.equal(familiarName('localhost:5000/library/busybox'), 'localhost:5000/library/busybox');
  });
});

describe('formatReference', () => {
  it('formats the familiar form when asked', () => {
    const ref = parseReference(`busybox:1@${DIGEST}`);
    assert.equal(formatReference(ref, { familiar: true }), `busybox:1@${DIGEST}`);
    assert.equal(formatReference(ref), `docker.io/library/busybox:1@${DIGEST}`);
  });
});

describe('isValidDigest', () => {
  it('accepts only verifiable digests when checked', () => {
    assert.equal(isValidDigest(DIGEST), true);
    assert.equal(isValidDigest(`sha512:${'f'.repeat(128)}`), true);
    assert.equal(isValidDigest('sha256:xyz'), false);
    assert.equal(isValidDigest(HEX), false);
  });
});
