/**
 * A bounded queue of byte chunks between one writer and one reader (an async iterable): the
 * writer's `push` waits while `limit` bytes are queued. When the reader stops early (returns
 * or throws), later pushes are dropped at once, so the writer never waits on a reader that is
 * gone.
 */
export class ChunkQueue implements AsyncIterable<Buffer> {
  private readonly limit: number;
  private chunks: Buffer[] = [];
  private head = 0;
  private bytes = 0;
  private isEnded = false;
  private failure: { error: unknown } | undefined;
  /** The reader stopped (or never will read again). */
  private isAbandoned = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Queue a chunk (not copied: it must not change afterwards); resolves when there is room again. */
  async push(chunk: Buffer): Promise<void> {
    if (this.isAbandoned || this.isEnded || this.failure) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.#wake('reader');
    while (this.bytes >= this.limit && !this.isAbandoned) {
      await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    }
  }

  /** No more chunks: the reader ends after the queued ones. */
  end(): void {
    this.isEnded = true;
    this.#wake('reader');
  }

  /** The reader will not read (any more): drop what is queued and what comes. */
  destroy(): void {
    this.isAbandoned = true;
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
    this.#wake('writer');
  }

  /** The reader fails with `error` (after the chunks already queued are dropped). */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.#wake('reader');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    try {
      for (;;) {
        if (this.failure) throw this.failure.error;
        if (this.head < this.chunks.length) {
          const chunk = this.chunks[this.head] as Buffer;
          this.chunks[this.head++] = undefined as unknown as Buffer;
          this.bytes -= chunk.length;
          if (this.bytes < this.limit) this.#wake('writer');
          yield chunk;
          continue;
        }
        this.chunks = [];
        this.head = 0;
        if (this.isEnded) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.destroy();
    }
  }

  #wake(who: 'reader' | 'writer'): void {
    const wake = who === 'reader' ? this.wakeReader : this.wakeWriter;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakeWriter = undefined;
    wake?.();
  }
}
