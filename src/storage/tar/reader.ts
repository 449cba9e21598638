/**
 * A streaming tar reader: the entries of an archive as an async iterator, each with its data
 * as an async iterable `body`, on top of the push parser (parser.ts, which holds the format
 * rules: ustar, GNU long names, PAX, checksums, truncation, sparse files refused).
 *
 * - Streams: input chunks are pulled only as entries and bodies are read. Nothing buffers a
 *   whole layer: at most the entries and data of one input chunk wait to be taken.
 * - Each entry's body must be consumed (or ignored) before asking for the next entry; unread
 *   data is skipped.
 *
 * Names are reported exactly as in the archive (no cleaning): callers decide what is safe.
 */
import { BerthError } from '../../common/index.ts';
import { ByteSource, type ByteChunks } from './byte-source.ts';
import { TarParser, type TarHeader } from './parser.ts';

export type { TarEntryType } from './parser.ts';

export interface TarEntry extends TarHeader {
  /** The entry's data; valid only until the next entry is requested. */
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  /** Largest PAX header or GNU long name accepted, in bytes (default 1 MiB). */
  maxMetaSize?: number;
  /** Read and discard whatever follows the end-of-archive marker (default true). */
  drain?: boolean;
}

type Event = { kind: 'entry'; header: TarHeader } | { kind: 'data'; chunk: Buffer } | { kind: 'end' };

/**
 * Iterate over the entries of a tar stream. Errors are INVALID_ARGUMENT BerthErrors
 * (NOT_IMPLEMENTED for sparse or multi-volume archives), thrown once the entries before the
 * fault were handed out.
 */
export async function* readTar(source: ByteChunks, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry, void, undefined> {
  const src = new ByteSource(source);
  const events: Event[] = [];
  let head = 0;
  const parser = new TarParser(
    {
      entry: (header) => events.push({ kind: 'entry', header }),
      // the parser hands out views of its input, which ByteSource never reuses
      data: (chunk) => events.push({ kind: 'data', chunk }),
      end: () => events.push({ kind: 'end' }),
    },
    opts.maxMetaSize === undefined ? {} : { maxMetaSize: opts.maxMetaSize },
  );
  let failure: { error: unknown } | undefined;
  let isInputDone = false;

  /** The next event, parsing more input when none is waiting; undefined at the end. */
  const next = async (): Promise<Event | undefined> => {
    while (head === events.length) {
      events.length = 0;
      head = 0;
      if (failure) throw failure.error;
      if (isInputDone || parser.isEnded) return undefined;
      const chunk = await src.readSome(Number.MAX_SAFE_INTEGER);
      try {
        if (chunk.length === 0) {
          isInputDone = true;
          parser.finish();
        } else {
          parser.push(chunk);
        }
      } catch (error) {
        failure = { error }; // after the events the good part of the chunk gave
      }
    }
    return events[head++];
  };

  try {
    for (;;) {
      const event = await next();
      if (event === undefined) break;
      if (event.kind !== 'entry') continue; // data of an entry whose body was not read
      const state = { isActive: true, isEnded: false };
      const name = event.header.name;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          if (!state.isActive) throw new BerthError('INTERNAL', `tar entry ${JSON.stringify(name)} was read after moving to the next entry`);
          while (!state.isEnded) {
            const e = await next();
            if (e === undefined || e.kind === 'entry') throw new BerthError('INTERNAL', `tar entry ${JSON.stringify(name)} has no end`);
            if (e.kind === 'end') state.isEnded = true;
            else yield e.chunk;
          }
        },
      };
      yield { ...event.header, body };
      state.isActive = false;
      while (!state.isEnded) {
        const e = await next();
        if (e === undefined || e.kind === 'end') state.isEnded = true;
      }
    }
    if (opts.drain ?? true) await src.drain();
  } finally {
    await src.close();
  }
}
