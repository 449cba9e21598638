import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../../common/index.ts';
import { END_OF_ARCHIVE, paxHeader, paxRecord, tarEntry, writeTar } from '../../../test/fixtures/tar-writer.ts';
import { TarParser, type TarHeader } from './parser.ts';

/** Parse `tar` pushed in pieces of `size` bytes; returns what the handler was told, data joined per entry. */
function parse(tar: Buffer, size: number): Array<{ name: string; type: string; data: string; mtime: string }> {
  const out: Array<{ name: string; type: string; data: string; mtime: string }> = [];
  let current: { header: TarHeader; parts: Buffer[] } | undefined;
  const parser = new TarParser({
    entry: (header) => {
      assert.equal(current, undefined, 'an entry starts only after the previous one ended');
      current = { header, parts: [] };
    },
    data: (chunk) => current?.parts.push(Buffer.from(chunk)),
    end: () => {
      const { header, parts } = current as NonNullable<typeof current>;
      out.push({ name: header.name, type: header.type, data: Buffer.concat(parts).toString(), mtime: `${header.mtime.sec}.${header.mtime.nsec}` });
      current = undefined;
    },
  });
  for (let i = 0; i < tar.length; i += size) parser.push(tar.subarray(i, i + size));
  parser.finish();
  return out;
}

describe('TarParser', () => {
  const tar = Buffer.concat([
    paxHeader('g', paxRecord('comment', 'global')),
    writeTar([
      { name: 'dir/', type: 'dir' },
      { name: 'dir/empty', data: '' },
      { name: `dir/${'long'.repeat(40)}`, data: 'x'.repeat(511), mtime: '1700000000.5' },
      { name: 'dir/block', data: 'y'.repeat(512) },
      { name: 'dir/link', type: 'symlink', linkname: 'block' },
      { name: 'dir/more', data: 'z'.repeat(1025) },
    ]),
    Buffer.from('garbage after the end marker is ignored'),
  ]);

  it('tells the same entries and data whatever the pieces the archive arrives in, single bytes included', () => {
    const whole = parse(tar, tar.length);
    assert.deepEqual(whole.map((e) => [e.name.slice(0, 12), e.type, e.data.length]), [
      ['dir/', 'dir', 0],
      ['dir/empty', 'file', 0],
      ['dir/longlong', 'file', 511],
      ['dir/block', 'file', 512],
      ['dir/link', 'symlink', 0],
      ['dir/more', 'file', 1025],
    ]);
    assert.equal(whole[2]?.mtime, '1700000000.500000000');
    for (const size of [1, 7, 511, 512, 513, 4096]) assert.deepEqual(parse(tar, size), whole, `pieces of ${size}`);
  });

  it('fails at the end when the archive stops inside an entry, naming the entry', () => {
    const cut = writeTar([{ name: 'f', data: 'x'.repeat(1000) }]).subarray(0, 512 + 300);
    assert.throws(() => parse(cut, 100), (err: unknown) => err instanceof BerthError && err.message === 'truncated tar: entry "f" needs 1000 bytes, got 300');
  });

  it('keeps failing with the same error once it failed', () => {
    const bad = Buffer.concat([tarEntry({ name: 'ok' }), END_OF_ARCHIVE]);
    bad[5] = 0x41; // breaks the header checksum
    const parser = new TarParser({ entry: () => {}, data: () => {}, end: () => {} });
    let first: unknown;
    assert.throws(() => parser.push(bad), (err: unknown) => {
      first = err;
      return err instanceof BerthError && /header checksum mismatch at byte 0/.test(err.message);
    });
    assert.throws(() => parser.push(Buffer.alloc(512)), (err: unknown) => err === first);
    assert.throws(() => parser.finish(), (err: unknown) => err === first);
  });
});
