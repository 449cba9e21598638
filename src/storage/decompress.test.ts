import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { BerthError } from '../common/index.ts';
import { chunked } from '../../test/fixtures/tar-writer.ts';
import { decompressStream, detectCompression, type Compression } from './decompress.ts';

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}

const DATA = Buffer.from('ustar-ish payload '.repeat(5000));

describe('decompressStream', () => {
  for (const [kind, packed] of [
    ['gzip', gzipSync(DATA)],
    ['zstd', zstdCompressSync(DATA)],
    ['none', DATA],
  ] as Array<[Compression, Buffer]>) {
    it(`restores the original bytes when the input is ${kind} arriving in 3-byte chunks`, async () => {
      let seen: Compression | undefined;
      const out = await collect(decompressStream(chunked(packed, 3), { onCompression: (k) => (seen = k) }));
      assert.equal(seen, kind);
      assert.ok(out.equals(DATA));
    });
  }

  it('passes an empty stream through when there are no bytes', async () => {
    assert.equal((await collect(decompressStream([]))).length, 0);
  });

  it('fails when a gzip stream is cut short', async () => {
    const gz = gzipSync(DATA);
    await assert.rejects(collect(decompressStream([gz.subarray(0, gz.length - 20)])), /unexpected end of file/);
  });

  it('refuses xz and bzip2 with NOT_IMPLEMENTED when detected', () => {
    for (const head of [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x42, 0x5a, 0x68, 0x39]]) {
      assert.throws(
        () => detectCompression(Buffer.from(head)),
        (err: unknown) => err instanceof BerthError && err.code === 'NOT_IMPLEMENTED' && /compressed layers are not supported$/.test(err.message),
      );
    }
  });

  it('stops reading the source when the consumer stops early', async () => {
    let isClosed = false;
    async function* source(): AsyncGenerator<Buffer> {
      try {
        for (let i = 0; i < 1000; i++) yield gzipSync(DATA);
      } finally {
        isClosed = true;
      }
    }
    for await (const _ of decompressStream(source())) break;
    assert.equal(isClosed, true);
  });
});
