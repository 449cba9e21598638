/**
 * Layer decompression chosen by magic bytes, as docker does (media types lie often enough):
 * gzip, zstd, or a plain tar passed through. Streaming: nothing is buffered beyond the few
 * bytes needed to recognise the format.
 */
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { BerthError } from '../common/index.ts';

/**
 * Output chunk size of the decompressors. zlib's default of 16 KiB means a thread-pool round
 * trip (and a thread wake-up) per 16 KiB: 256 KiB costs 16 times fewer.
 */
const CHUNK_SIZE = 256 * 1024;

export type Compression = 'gzip' | 'zstd' | 'none';

export type ChunkSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>;

const MAGIC: Array<[Compression | 'xz' | 'bzip2', number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

/** The compression of a stream judged from its first bytes (at least 6 for a sure answer). */
export function detectCompression(head: Uint8Array): Compression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) {
      if (kind === 'xz' || kind === 'bzip2') {
        throw new BerthError('NOT_IMPLEMENTED', `${kind} compressed layers are not supported`, {
          hint: 'OCI layers are gzip, zstd or uncompressed tar',
        });
      }
      return kind;
    }
  }
  return 'none';
}

function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Fails (NOT_IMPLEMENTED) when this Node cannot decompress `kind`. */
export function assertDecompressible(kind: Compression): void {
  if (kind !== 'zstd') return;
  if (typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress !== 'function') {
    throw new BerthError('NOT_IMPLEMENTED', `zstd compressed layers need Node >= 22.15 (this is ${process.version})`, {
      hint: 'run berth with a newer Node',
    });
  }
}

function createDecompressor(kind: 'gzip' | 'zstd'): Transform {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: CHUNK_SIZE });
  const z = zlib as unknown as { createZstdDecompress?: (opts: { chunkSize: number }) => Transform };
  if (typeof z.createZstdDecompress !== 'function') {
    throw new BerthError('NOT_IMPLEMENTED', `zstd compressed layers need Node >= 22.15 (this is ${process.version})`, {
      hint: 'run berth with a newer Node',
    });
  }
  return z.createZstdDecompress({ chunkSize: CHUNK_SIZE });
}

async function* iterate(source: ChunkSource): AsyncGenerator<Uint8Array | string> {
  yield* source;
}

/**
 * Decompress a layer stream, recognising gzip and zstd by their magic bytes and passing an
 * uncompressed tar through unchanged. `onCompression` reports what was found before the first
 * output chunk. Errors from the decompressor (corrupt data, bad checksum) are thrown from the
 * iteration.
 */
export async function* decompressStream(
  input: ChunkSource,
  opts: { onCompression?: (kind: Compression) => void } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const iterator = iterate(input);
  const head: Buffer[] = [];
  let headLength = 0;
  let isEnded = false;
  while (headLength < 6) {
    const next = await iterator.next();
    if (next.done) {
      isEnded = true;
      break;
    }
    const chunk = toBuffer(next.value);
    head.push(chunk);
    headLength += chunk.length;
  }
  const first = Buffer.concat(head);
  const kind = detectCompression(first);
  opts.onCompression?.(kind);
  if (kind === 'none') {
    if (first.length > 0) yield first;
    if (isEnded) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield toBuffer(next.value);
    }
  }
  const decompressor = createDecompressor(kind);
  async function* rest(): AsyncGenerator<Buffer> {
    yield first;
    if (isEnded) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield toBuffer(next.value);
    }
  }
  const source = Readable.from(rest(), { objectMode: false });
  pipeline(source, decompressor, () => {
    // errors surface through iterating `decompressor`, which pipeline destroys with them
  });
  try {
    for await (const chunk of decompressor) yield chunk as Buffer;
  } finally {
    source.destroy();
    await iterator.return(undefined);
  }
}
