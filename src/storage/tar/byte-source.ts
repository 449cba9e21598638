/**
 * Pull bytes from an async stream of chunks in the amounts a parser asks for, holding only
 * what has arrived and not yet been taken (never the whole stream).
 */
export type ByteChunks = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array> | Uint8Array;

async function* fromSync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

export class ByteSource {
  /** Bytes handed out so far (the archive offset of the next byte). */
  offset = 0;
  private readonly iterator: AsyncIterator<Uint8Array | string>;
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private isDone = false;

  constructor(source: ByteChunks) {
    if (source instanceof Uint8Array) this.iterator = fromSync([source]);
    else if (Symbol.asyncIterator in source) this.iterator = source[Symbol.asyncIterator]();
    else this.iterator = fromSync(source);
  }

  /** Pull chunks until at least `n` bytes are buffered or the stream ends. */
  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.isDone) {
      const next = await this.iterator.next();
      if (next.done) {
        this.isDone = true;
        break;
      }
      const value = next.value;
      const chunk = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first === undefined || n === 0) return Buffer.alloc(0);
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[0] as Buffer;
        const part = Math.min(chunk.length, n - filled);
        chunk.copy(out, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(part);
      }
    }
    this.buffered -= n;
    this.offset += n;
    return out;
  }

  /** Exactly `n` bytes, or fewer only if the stream ended first. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.take(Math.min(n, this.buffered));
  }

  /** The next available bytes, at most `max` (zero-copy when possible); empty at end of stream. */
  async readSome(max: number): Promise<Buffer> {
    if (this.buffered === 0) await this.fill(1);
    const first = this.chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    return this.take(Math.min(max, first.length));
  }

  /** Discard up to `n` bytes; returns how many were discarded (fewer at end of stream). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(left);
      if (got.length === 0) break;
      left -= got.length;
    }
    return n - left;
  }

  /** Read and discard everything left in the stream; returns the number of bytes. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const got = await this.readSome(Number.MAX_SAFE_INTEGER);
      if (got.length === 0) return total;
      total += got.length;
    }
  }

  /** Stop pulling from the underlying stream (lets it release its resources). */
  async close(): Promise<void> {
    if (!this.isDone) {
      this.isDone = true;
      await this.iterator.return?.();
    }
  }
}
