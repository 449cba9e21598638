/**
 * Blobs as the content store and its ingests see them: what a blob is expected to be, who may
 * watch it arrive, its digest, and the errors of its verification.
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../common/index.ts';

export interface ExpectedBlob {
  digest: string;
  size?: number;
}

/** Sees a blob's bytes while it is ingested, and has a say before it is committed. */
export interface BlobConsumer {
  /**
   * The next bytes of the blob (from byte 0 on, without gaps or repeats). The promise is
   * back-pressure: the ingest waits for it. A consumer that failed should resolve (and drop the
   * bytes), keeping its error for `close()`.
   */
  write(chunk: Buffer): Promise<void>;
  /** Every byte was written and the blob matches its digest: finish. Throwing keeps the blob out. */
  close(): Promise<void>;
  /** The ingest failed or was canceled: undo whatever was made (resolves once undone). */
  abort(reason: unknown): Promise<void>;
}

export interface IngestOptions {
  /** Called as data arrives with the number of bytes of the blob received so far. */
  onBytes?: (received: number) => void;
  signal?: AbortSignal;
  /** Makes a consumer of the blob's bytes; called whenever the ingest (re)starts from byte 0. */
  consumer?: () => BlobConsumer;
}

export interface ResumableIngestOptions extends IngestOptions {
  /** How many times a broken transfer is resumed before giving up (default 3). */
  retries?: number;
}

export type BlobSource = AsyncIterable<Uint8Array | string> | NodeJS.ReadableStream;

/** `fetchFrom(offset)` yields the blob's bytes from `offset` on (offset 0: the whole blob). */
export type FetchFrom = (offset: number) => Promise<AsyncIterable<Uint8Array>>;

/** The hex of a sha256 digest. */
export const HEX64 = /^[a-f0-9]{64}$/;

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a sha256 digest; other algorithms and malformed digests are refused. */
export function digestHex(digest: string): string {
  if (!digest.startsWith('sha256:')) {
    throw new BerthError('NOT_IMPLEMENTED', `unsupported digest ${JSON.stringify(digest)}: the content store keeps sha256 blobs only`);
  }
  const hex = digest.slice(7);
  if (!HEX64.test(hex)) throw new BerthError('INVALID_ARGUMENT', `invalid digest ${JSON.stringify(digest)}: expected sha256: and 64 lowercase hex digits`);
  return hex;
}

/** The error of a blob that is not what was expected (size first: a truncated blob is named so). */
export function mismatch(expected: ExpectedBlob, size: number, actual: string): BerthError {
  if (expected.size !== undefined && size !== expected.size) {
    return new BerthError('INVALID_ARGUMENT', `size mismatch for ${expected.digest}: got ${size} bytes, expected ${expected.size}`, {
      hint: 'the registry sent a truncated or wrong blob; nothing was stored',
    });
  }
  return new BerthError('INVALID_ARGUMENT', `digest mismatch for ${expected.digest}: got ${actual}`, {
    hint: 'the registry sent corrupt or tampered content; nothing was stored',
  });
}

export function canceled(digest: string, cause: unknown): BerthError {
  return new BerthError('CANCELED', `download of ${digest} was canceled`, { cause });
}

/** True when `err` is the end of a canceled operation. */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === 'AbortError');
}

/** A chunk as a Buffer, without copying. */
export function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

const interrupted = new WeakSet<object>();

/** Mark an error as the end of a transfer that broke off mid-way (a dropped connection): resuming it may succeed. */
export function markInterrupted<E extends Error>(err: E): E {
  interrupted.add(err);
  return err;
}

/** True for an error marked with `markInterrupted`. */
export function isInterrupted(err: unknown): boolean {
  return typeof err === 'object' && err !== null && interrupted.has(err);
}
