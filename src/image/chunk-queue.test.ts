import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkQueue } from './chunk-queue.ts';

describe('ChunkQueue', () => {
  it('hands chunks over in order and makes the writer wait while its limit is queued', async () => {
    const queue = new ChunkQueue(10);
    const events: string[] = [];
    const writing = (async () => {
      for (const text of ['abcd', 'efgh', 'ijkl', 'mnop']) {
        await queue.push(Buffer.from(text));
        events.push(`pushed ${text}`);
      }
      queue.end();
    })();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, ['pushed abcd', 'pushed efgh'], 'the third push waits: 12 bytes are queued');
    const read: string[] = [];
    for await (const chunk of queue) read.push(chunk.toString());
    await writing;
    assert.deepEqual(read, ['abcd', 'efgh', 'ijkl', 'mnop']);
  });

  it('lets the writer go on, dropping its chunks, once the reader stopped', async () => {
    const queue = new ChunkQueue(4);
    const reading = (async () => {
      for await (const chunk of queue) {
        assert.equal(chunk.toString(), 'first');
        break;
      }
    })();
    await queue.push(Buffer.from('first'));
    await reading;
    await queue.push(Buffer.from('second')); // would wait forever if it were kept
    await queue.push(Buffer.from('third'));
  });

  it('fails the reader with the reason given, and drops chunks when destroyed before reading', async () => {
    const queue = new ChunkQueue(100);
    await queue.push(Buffer.from('x'));
    queue.fail(new Error('download failed'));
    await assert.rejects(async () => {
      for await (const _ of queue) {
        // nothing arrives
      }
    }, /download failed/);
    const unread = new ChunkQueue(1);
    unread.destroy();
    await unread.push(Buffer.from('never read'));
  });
});
