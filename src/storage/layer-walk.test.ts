import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkfifo } from '../native/sys.ts';
import { readFileEntry, walkMerged, walkUpper } from './layer-walk.ts';

function temp(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-walk-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

function read(gen: Generator<Uint8Array>): string {
  return Buffer.concat([...gen]).toString();
}

describe('readFileEntry', () => {
  it('reads a file as it was found, exactly its declared size', () => {
    using t = temp();
    writeFileSync(join(t.dir, 'f'), 'hello');
    for (const entry of walkUpper(t.dir)) {
      assert.equal(read(readFileEntry(entry)), 'hello');
      writeFileSync(join(t.dir, 'f'), 'hello, and more'); // grew meanwhile: cut to what was declared
      assert.equal(read(readFileEntry(entry)), 'hello');
      writeFileSync(join(t.dir, 'f'), 'he'); // shrank: padded with zeros
      assert.deepEqual(Buffer.concat([...readFileEntry(entry)]), Buffer.from('he\0\0\0'));
    }
  });

  it('never follows a symlink swapped in after the walk saw a file', () => {
    using t = temp();
    writeFileSync(join(t.dir, 'secret'), 'HOST');
    mkdirSync(join(t.dir, 'layer'));
    writeFileSync(join(t.dir, 'layer/f'), 'xxxx');
    for (const entry of walkUpper(join(t.dir, 'layer'))) {
      unlinkSync(join(t.dir, 'layer/f'));
      symlinkSync(join(t.dir, 'secret'), join(t.dir, 'layer/f'));
      assert.deepEqual(Buffer.concat([...readFileEntry(entry)]), Buffer.alloc(4), 'zeros, not the target');
    }
  });

  it('never opens a FIFO swapped in (it would block) and gives zeros', { skip: process.getuid?.() !== 0 && 'needs mknod' }, () => {
    using t = temp();
    writeFileSync(join(t.dir, 'f'), 'abc');
    for (const entry of walkUpper(t.dir)) {
      unlinkSync(join(t.dir, 'f'));
      mkfifo(join(t.dir, 'f'), 0o644);
      assert.deepEqual(Buffer.concat([...readFileEntry(entry)]), Buffer.alloc(3));
    }
  });
});

describe('walkMerged', () => {
  it('walks names that are not UTF-8 as bytes, and reads them', () => {
    using t = temp();
    const name = Buffer.from([0x66, 0xff]);
    writeFileSync(Buffer.concat([Buffer.from(t.dir + '/'), name]), 'raw');
    const seen = [];
    for (const e of walkMerged([t.dir])) seen.push([e.path, read(readFileEntry(e))]);
    assert.deepEqual(seen, [[name, 'raw']]);
    // read after the walk went on: refused, never through a closed (or reused) fd
    const [stale] = [...walkMerged([t.dir])];
    assert.throws(() => read(readFileEntry(stale!)), /after the walk went on/);
  });

  it('does not descend through a symlinked directory of a layer', () => {
    using t = temp();
    mkdirSync(join(t.dir, 'outside'));
    writeFileSync(join(t.dir, 'outside/secret'), 's');
    mkdirSync(join(t.dir, 'layer'));
    symlinkSync(join(t.dir, 'outside'), join(t.dir, 'layer/dir'));
    assert.deepEqual([...walkMerged([join(t.dir, 'layer')])].map((e) => [e.path.toString(), e.kind]), [['dir', 'symlink']]);
  });
});
