/**
 * Appending a download to a file with few writes (content-store.ts).
 */
import type { FileHandle } from 'node:fs/promises';

/** Bytes of a download queued for the file before the download waits for the disk. */
const MAX_PENDING = 8 << 20;

/**
 * Appends a download's chunks to a file: a chunk is written at once when no write is going on,
 * and chunks that arrive meanwhile are written together with the next writev (a write per
 * network chunk would be hundreds of thread-pool round trips per layer). `write` waits only
 * while MAX_PENDING bytes are queued; a write error comes out of the next `write` or `flush`.
 * Chunks are kept, not copied: they must not change afterwards.
 */
export class FileAppender {
  private readonly handle: FileHandle;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> | undefined;
  private failure: { error: unknown } | undefined;

  constructor(handle: FileHandle) {
    this.handle = handle;
  }

  async write(data: Buffer): Promise<void> {
    if (this.failure) throw this.failure.error;
    this.pending.push(data);
    this.pendingBytes += data.length;
    this.writing ??= this.#writeQueued();
    if (this.pendingBytes >= MAX_PENDING) await this.flush();
  }

  /** Wait until everything queued is written. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure.error;
  }

  async #writeQueued(): Promise<void> {
    while (this.pending.length > 0 && !this.failure) {
      let buffers = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      try {
        while (buffers.length > 0) {
          let written = (await this.handle.writev(buffers)).bytesWritten;
          while (buffers.length > 0 && written >= (buffers[0] as Buffer).length) written -= (buffers.shift() as Buffer).length;
          if (written > 0) buffers[0] = (buffers[0] as Buffer).subarray(written);
        }
      } catch (error) {
        this.failure = { error };
      }
    }
    this.writing = undefined;
  }
}
