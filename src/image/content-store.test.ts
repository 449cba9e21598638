import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { BerthError } from '../common/index.ts';
import { ownedName } from '../storage/index.ts';
import { ContentStore, digestHex, sha256Digest, type BlobConsumer } from './content-store.ts';

async function tempStore(t: { after: (fn: () => Promise<void>) => void }): Promise<ContentStore> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-test-content-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return new ContentStore(dir);
}

async function* pieces(data: Buffer, size = 1000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** A source that yields `good` bytes, then fails like a dropped connection. */
async function* breaksAfter(data: Buffer, good: number): AsyncGenerator<Uint8Array> {
  yield data.subarray(0, good);
  throw Object.assign(new TypeError('terminated'), { cause: { code: 'ECONNRESET' } });
}

async function ingestLeftovers(store: ContentStore): Promise<string[]> {
  return store.listIngests();
}

/** A consumer that records what it is given and what happens to it. */
function recorder(opts: { onClose?: () => Promise<void> } = {}) {
  const log: { consumers: number; received: Buffer[][]; closed: number; aborted: unknown[] } = { consumers: 0, received: [], closed: 0, aborted: [] };
  const make = (): BlobConsumer => {
    const chunks: Buffer[] = [];
    log.consumers++;
    log.received.push(chunks);
    return {
      write: async (chunk) => {
        chunks.push(Buffer.from(chunk));
      },
      close: async () => {
        await opts.onClose?.();
        log.closed++;
      },
      abort: async (reason) => {
        log.aborted.push(reason);
      },
    };
  };
  return { log, make };
}

describe('ContentStore', () => {
  it('stores a streamed blob under blobs/sha256/<hex> when digest and size match', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(10_000);
    const digest = sha256Digest(data);
    const seen: number[] = [];
    await store.ingest(pieces(data), { digest, size: data.length }, { onBytes: (n) => seen.push(n) });
    assert.equal(store.blobPath(digest), join(store.rootDir, 'blobs/sha256', digest.slice(7)));
    assert.deepEqual(await readFile(store.blobPath(digest)), data);
    assert.equal(await store.has(digest), true);
    assert.equal(await store.size(digest), data.length);
    assert.equal(seen.at(-1), data.length);
    assert.deepEqual(await store.list(), [digest]);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('refuses a blob whose content does not hash to its digest and keeps nothing', async (t) => {
    const store = await tempStore(t);
    const data = Buffer.from('the real content');
    const digest = sha256Digest('other content');
    await assert.rejects(store.ingest(pieces(data, 3), { digest }), (err: BerthError) => {
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.equal(err.message, `digest mismatch for ${digest}: got ${sha256Digest(data)}`);
      return true;
    });
    assert.equal(await store.has(digest), false);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('refuses a truncated stream (size short of the descriptor) and keeps nothing', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(5000);
    const digest = sha256Digest(data);
    await assert.rejects(store.ingest(pieces(data.subarray(0, 4000)), { digest, size: 5000 }), /size mismatch for sha256:[a-f0-9]+: got 4000 bytes, expected 5000/);
    await assert.rejects(store.ingest(pieces(Buffer.concat([data, Buffer.from('x')])), { digest, size: 5000 }), /size mismatch/);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('accepts a Node readable stream and drains the source when the blob is already stored', async (t) => {
    const store = await tempStore(t);
    const data = Buffer.from('hello');
    const digest = await store.writeBlob(data);
    assert.equal(digest, sha256Digest(data));
    let isDrained = false;
    const source = Readable.from((async function* () {
      yield data;
      isDrained = true;
    })());
    await store.ingest(source, { digest });
    assert.equal(isDrained, true);
    assert.deepEqual(await store.readBlob(digest), data);
  });

  it('lets concurrent ingests of one digest all succeed with one intact blob', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(200_000);
    const digest = sha256Digest(data);
    await Promise.all(Array.from({ length: 5 }, () => store.ingest(pieces(data, 4096), { digest, size: data.length })));
    assert.deepEqual(await store.readBlob(digest), data);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('checks writeBlob against a given digest, and reads, streams, lists and deletes blobs', async (t) => {
    const store = await tempStore(t);
    await assert.rejects(store.writeBlob(Buffer.from('a'), sha256Digest('b')), /digest mismatch/);
    const digest = await store.writeBlob(Buffer.from('abc'), sha256Digest('abc'));
    const chunks: Buffer[] = [];
    for await (const chunk of store.openBlob(digest)) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'abc');
    await store.delete(digest);
    assert.equal(await store.has(digest), false);
    await assert.rejects(store.readBlob(digest), (err: BerthError) => err.code === 'NOT_FOUND');
    await assert.rejects(async () => {
      for await (const _ of store.openBlob(digest)) {
        // nothing
      }
    }, (err: BerthError) => err.code === 'NOT_FOUND');
  });

  it('notices a stored blob corrupted on disk when reading it', async (t) => {
    const store = await tempStore(t);
    const digest = await store.writeBlob(Buffer.from('{"a":1}'));
    await writeFile(store.blobPath(digest), '{"a":2}');
    await assert.rejects(store.readBlob(digest), /stored blob sha256:[a-f0-9]+ is corrupt/);
  });

  it('refuses malformed and non-sha256 digests', () => {
    assert.throws(() => digestHex('sha256:abc'), /invalid digest/);
    assert.throws(() => digestHex(`sha512:${'a'.repeat(128)}`), (err: BerthError) => err.code === 'NOT_IMPLEMENTED');
    assert.equal(digestHex(`sha256:${'a'.repeat(64)}`), 'a'.repeat(64));
  });
});

describe('ContentStore.ingestResumable', () => {
  it('keeps the partial file when the transfer breaks and resumes from its size', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(100_000);
    const digest = sha256Digest(data);
    const offsets: number[] = [];
    // First call: the connection drops after 30000 bytes, and no retries are allowed.
    await assert.rejects(
      store.ingestResumable('layer1', async (offset) => {
        offsets.push(offset);
        return breaksAfter(data, 30_000);
      }, { digest, size: data.length }, { retries: 0 }),
      /terminated/,
    );
    assert.equal((await stat(join(store.ingestDir, 'layer1'))).size, 30_000);
    assert.equal(await store.has(digest), false);
    // A later call (e.g. after a crash) picks up at byte 30000.
    const progress: number[] = [];
    await store.ingestResumable('layer1', async (offset) => {
      offsets.push(offset);
      return pieces(data.subarray(offset), 7000);
    }, { digest, size: data.length }, { onBytes: (n) => progress.push(n) });
    assert.deepEqual(offsets, [0, 30_000]);
    assert.equal(progress[0], 30_000);
    assert.deepEqual(await store.readBlob(digest), data);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('resumes a broken transfer by itself while retries last', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(50_000);
    const digest = sha256Digest(data);
    const offsets: number[] = [];
    await store.ingestResumable('k', async (offset) => {
      offsets.push(offset);
      return offset === 0 ? breaksAfter(data, 20_000) : pieces(data.subarray(offset));
    }, { digest, size: data.length }, { retries: 2 });
    assert.deepEqual(offsets, [0, 20_000]);
    assert.deepEqual(await store.readBlob(digest), data);
  });

  it('starts over once when a resumed partial file turns out corrupt', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(40_000);
    const digest = sha256Digest(data);
    const bad = Buffer.from(data.subarray(0, 10_000));
    bad[5] = (bad[5] ?? 0) ^ 0xff;
    await store.ingestResumable('warm', async () => pieces(Buffer.alloc(0)), { digest: sha256Digest(''), size: 0 });
    await writeFile(join(store.ingestDir, 'k'), bad);
    const offsets: number[] = [];
    await store.ingestResumable('k', async (offset) => {
      offsets.push(offset);
      return pieces(data.subarray(offset));
    }, { digest, size: data.length });
    assert.deepEqual(offsets, [10_000, 0]);
    assert.deepEqual(await store.readBlob(digest), data);
  });

  it('refuses a tampered blob, removing the partial file', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(10_000);
    const tampered = Buffer.from(data);
    tampered[100] = (tampered[100] ?? 0) ^ 1;
    const digest = sha256Digest(data);
    await assert.rejects(store.ingestResumable('k', async (offset) => pieces(tampered.subarray(offset)), { digest, size: data.length }), /digest mismatch/);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('fetches a blob once when several callers ask for it at the same time', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(300_000);
    const digest = sha256Digest(data);
    let fetches = 0;
    const fetchFrom = async (offset: number) => {
      fetches++;
      return pieces(data.subarray(offset), 10_000);
    };
    await Promise.all(Array.from({ length: 4 }, () => store.ingestResumable('same', fetchFrom, { digest, size: data.length })));
    assert.equal(fetches, 1);
    assert.equal(createHash('sha256').update(await readFile(store.blobPath(digest))).digest('hex'), digest.slice(7));
  });

  it('reports an abort as CANCELED and keeps what it had for the next try', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(100_000);
    const digest = sha256Digest(data);
    const controller = new AbortController();
    await assert.rejects(
      store.ingestResumable('k', async (offset) => pieces(data.subarray(offset), 10_000), { digest, size: data.length }, {
        signal: controller.signal,
        onBytes: (n) => {
          if (n >= 20_000) controller.abort();
        },
      }),
      (err: BerthError) => err.code === 'CANCELED',
    );
    assert.equal((await stat(join(store.ingestDir, 'k'))).size, 20_000);
    assert.deepEqual(await readdir(store.ingestDir), ['k']);
    await store.ingestResumable('k', async (offset) => pieces(data.subarray(offset)), { digest, size: data.length });
    assert.deepEqual(await store.readBlob(digest), data);
  });

  it('downloads into a temp file of its own while another process holds the partial file', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(20_000);
    const digest = sha256Digest(data);
    // Another process starts a resumable ingest of the same key and stalls mid-way.
    const script = `
      import { ContentStore } from ${JSON.stringify(new URL('./content-store.ts', import.meta.url).href)};
      const store = new ContentStore(${JSON.stringify(store.rootDir)});
      await store.ingestResumable('k', async () => (async function* () {
        yield Buffer.from('partial');
        process.stdout.write('stalled');
        await new Promise(() => setInterval(() => {}, 1000));
      })(), { digest: ${JSON.stringify(digest)}, size: ${data.length} });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const [first] = await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => ['exited'])]);
    assert.equal(String(first), 'stalled');
    const offsets: number[] = [];
    await store.ingestResumable('k', async (offset) => {
      offsets.push(offset);
      return pieces(data.subarray(offset));
    }, { digest, size: data.length });
    assert.deepEqual(offsets, [0]);
    assert.deepEqual(await store.readBlob(digest), data);
    assert.equal((await readFile(join(store.ingestDir, 'k'))).toString(), 'partial', "the other process's partial file is untouched");
    child.kill('SIGKILL');
    await once(child, 'exit');
  });

  it('refuses keys that are not plain names', async (t) => {
    const store = await tempStore(t);
    await assert.rejects(store.ingestResumable('../x', async () => pieces(Buffer.alloc(0)), { digest: sha256Digest('') }), /invalid ingest key/);
  });
});

describe('ContentStore ingest consumers', () => {
  it('gives a consumer every byte once, in order, and closes it before the blob is stored', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(50_000);
    const digest = sha256Digest(data);
    const { log, make } = recorder({
      onClose: async () => assert.equal(await store.has(digest), false, 'the blob is not stored before the consumer closed'),
    });
    const offsets: number[] = [];
    await store.ingestResumable('k', async (offset) => {
      offsets.push(offset);
      return offset === 0 ? breaksAfter(data, 20_000) : pieces(data.subarray(offset), 3000);
    }, { digest, size: data.length }, { retries: 1, consumer: make });
    assert.deepEqual(offsets, [0, 20_000], 'the broken transfer was resumed with a range');
    assert.equal(log.consumers, 1, 'one consumer saw one continuous stream');
    assert.deepEqual(Buffer.concat(log.received[0] ?? []), data);
    assert.equal(log.closed, 1);
    assert.deepEqual(await store.readBlob(digest), data);
  });

  it('replays the partial file to a new consumer when a later call resumes', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(40_000);
    const digest = sha256Digest(data);
    const first = recorder();
    await assert.rejects(store.ingestResumable('k', async () => breaksAfter(data, 15_000), { digest, size: data.length }, { retries: 0, consumer: first.make }), /terminated/);
    assert.equal(first.log.aborted.length, 1, 'the consumer of the failed call was aborted');
    const second = recorder();
    const offsets: number[] = [];
    await store.ingestResumable('k', async (offset) => {
      offsets.push(offset);
      return pieces(data.subarray(offset));
    }, { digest, size: data.length }, { consumer: second.make });
    assert.deepEqual(offsets, [15_000]);
    assert.deepEqual(Buffer.concat(second.log.received[0] ?? []), data, 'the new consumer got the stored prefix, then the rest');
    assert.equal(second.log.closed, 1);
  });

  it('stores nothing and leaves no partial file when the consumer fails at close', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(30_000);
    const digest = sha256Digest(data);
    const failure = new BerthError('INVALID_ARGUMENT', 'the layer does not match its diff ID');
    for (const ingest of [
      () => store.ingestResumable('k', async (offset) => pieces(data.subarray(offset)), { digest, size: data.length }, { consumer: recorder({ onClose: async () => { throw failure; } }).make }),
      () => store.ingest(pieces(data), { digest, size: data.length }, { consumer: recorder({ onClose: async () => { throw failure; } }).make }),
    ]) {
      await assert.rejects(ingest(), (err) => err === failure);
      assert.equal(await store.has(digest), false);
      assert.deepEqual(await ingestLeftovers(store), []);
    }
  });

  it('reports a corrupt blob as a digest mismatch and aborts its consumer without closing it', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(30_000);
    const tampered = Buffer.from(data);
    tampered[29_000] = (tampered[29_000] ?? 0) ^ 1;
    const digest = sha256Digest(data);
    const { log, make } = recorder();
    await assert.rejects(store.ingestResumable('k', async (offset) => pieces(tampered.subarray(offset)), { digest, size: data.length }, { consumer: make }), /^BerthError: digest mismatch/);
    assert.equal(log.closed, 0);
    assert.equal(log.aborted.length, 1);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await ingestLeftovers(store), []);
  });

  it('makes no consumer when the blob is stored already', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(1000);
    const digest = await store.writeBlob(data);
    const { log, make } = recorder();
    await store.ingestResumable('k', async () => pieces(data), { digest, size: data.length }, { consumer: make });
    assert.equal(log.consumers, 0);
  });
});


describe('ContentStore.removeLeftovers', () => {
  it('removes temp files when their owner is dead, and keeps those of a live owner', async (t) => {
    const store = await tempStore(t);
    await mkdir(store.ingestDir, { recursive: true });
    const dead = `.tmp-4194304999-1-${'0'.repeat(16)}`;
    const live = ownedName('.tmp-');
    await writeFile(join(store.ingestDir, dead), 'x'.repeat(100));
    await writeFile(join(store.ingestDir, live), 'y');
    const removed = await store.removeLeftovers({ partialMaxAgeMs: 0 });
    assert.deepEqual(removed, [{ path: join(store.ingestDir, dead), size: 100 }]);
    assert.deepEqual(await store.listIngests(), [live]);
  });

  it('keeps a partial download nobody resumes for the next pull until it is older than allowed', async (t) => {
    const store = await tempStore(t);
    const data = randomBytes(5000);
    const digest = sha256Digest(data);
    await assert.rejects(store.ingestResumable('sha256-part', async () => breaksAfter(data, 1000), { digest, size: data.length }, { retries: 0 }));
    assert.deepEqual(await store.listIngests(), ['sha256-part']);
    assert.deepEqual(await store.removeLeftovers({ partialMaxAgeMs: 60_000 }), [], 'a recent one stays');
    const old = new Date(Date.now() - 120_000);
    await utimes(join(store.ingestDir, 'sha256-part'), old, old);
    assert.deepEqual(await store.removeLeftovers({ partialMaxAgeMs: 60_000 }), [{ path: join(store.ingestDir, 'sha256-part'), size: 1000 }]);
    assert.deepEqual(await store.listIngests(), []);
  });

  it('never removes a partial download while a live process resumes it', async (t) => {
    const store = await tempStore(t);
    const script = `
      import { ContentStore } from ${JSON.stringify(new URL('./content-store.ts', import.meta.url).href)};
      const store = new ContentStore(${JSON.stringify(store.rootDir)});
      await store.ingestResumable('sha256-live', async () => (async function* () {
        yield Buffer.from('partial');
        process.stdout.write('stalled');
        await new Promise(() => setInterval(() => {}, 1000));
      })(), { digest: ${JSON.stringify(sha256Digest('whatever'))}, size: 100 });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const [first] = await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => ['exited'])]);
    assert.equal(String(first), 'stalled');
    assert.deepEqual(await store.removeLeftovers({ partialMaxAgeMs: 0 }), [], 'its owner is alive');
    assert.deepEqual(await store.listIngests(), ['sha256-live']);
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal((await store.removeLeftovers({ partialMaxAgeMs: 0 })).length, 1, 'once its owner is gone, it goes');
    assert.deepEqual(await store.listIngests(), []);
  });
});
