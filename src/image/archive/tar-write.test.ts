import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../../common/index.ts';
import { readTar } from '../../storage/index.ts';
import { writeTarStream, type TarWriteEntry } from './tar-write.ts';

async function collect(entries: TarWriteEntry[]): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of writeTarStream(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function readBack(tar: Buffer) {
  const out = [];
  for await (const e of readTar(tar)) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    out.push({ name: e.name, type: e.type, mode: e.mode, uid: e.uid, linkname: e.linkname, data: Buffer.concat(chunks).toString() });
  }
  return out;
}

describe('writeTarStream', () => {
  it('writes what berth\'s own tar reader reads back: dirs, files, links, long names', async () => {
    const long = `deep/${'x'.repeat(120)}/${'y'.repeat(90)}.txt`;
    const longer = 'z'.repeat(300);
    async function* body() {
      yield Buffer.from('str');
      yield Buffer.from('eamed');
    }
    const tar = await collect([
      { name: 'bin', type: 'dir' },
      { name: 'bin/sh', type: 'file', mode: 0o755, body: Buffer.from('#!') },
      { name: 'bin/ls', type: 'symlink', linkname: 'sh' },
      { name: 'bin/hard', type: 'hardlink', linkname: 'bin/sh' },
      { name: long, type: 'file', body: Buffer.from('long') },
      { name: longer, type: 'file', uid: 10_000_000, body: Buffer.from('pax') },
      { name: 'stream', type: 'file', size: 8, body: body() },
    ]);
    assert.equal(tar.length % 512, 0);
    assert.deepEqual(await readBack(tar), [
      { name: 'bin/', type: 'dir', mode: 0o755, uid: 0, linkname: '', data: '' },
      { name: 'bin/sh', type: 'file', mode: 0o755, uid: 0, linkname: '', data: '#!' },
      { name: 'bin/ls', type: 'symlink', mode: 0o644, uid: 0, linkname: 'sh', data: '' },
      { name: 'bin/hard', type: 'hardlink', mode: 0o644, uid: 0, linkname: 'bin/sh', data: '' },
      { name: long, type: 'file', mode: 0o644, uid: 0, linkname: '', data: 'long' },
      { name: longer, type: 'file', mode: 0o644, uid: 10_000_000, linkname: '', data: 'pax' },
      { name: 'stream', type: 'file', mode: 0o644, uid: 0, linkname: '', data: 'streamed' },
    ]);
  });

  it('refuses a file whose data is shorter or longer than its declared size', async () => {
    const isSizeError = (err: unknown) => err instanceof BerthError && /declared size/.test(err.message);
    await assert.rejects(collect([{ name: 'f', type: 'file', size: 10, body: [Buffer.from('short')] }]), isSizeError);
    await assert.rejects(collect([{ name: 'f', type: 'file', size: 2, body: [Buffer.from('too long')] }]), isSizeError);
  });

  it('writes byte names and links that are not UTF-8 verbatim', async () => {
    const name = Buffer.from([0x66, 0xff, 0x2e, 0x74]); // "f\xff.t"
    const tar = await collect([{ name, type: 'file', body: Buffer.from('x') }, { name: 'l', type: 'symlink', linkname: name }]);
    assert.deepEqual(tar.subarray(0, 5), Buffer.concat([name, Buffer.alloc(1)]));
    assert.deepEqual(tar.subarray(1024 + 157, 1024 + 162), Buffer.concat([name, Buffer.alloc(1)]));
  });

  it('writes xattrs as SCHILY.xattr PAX records', async () => {
    const tar = await collect([{ name: 'f', type: 'file', body: Buffer.from('x'), xattrs: [['security.capability', Buffer.from([1, 0, 0, 2])], ['user.k', Buffer.from('v')]] }]);
    const entries = [];
    for await (const e of readTar(tar)) {
      for await (const _ of e.body) void _;
      entries.push(e);
    }
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.name, 'f');
    assert.deepEqual(entries[0]!.xattrs.get('security.capability'), Buffer.from([1, 0, 0, 2]));
    assert.deepEqual(entries[0]!.xattrs.get('user.k'), Buffer.from('v'));
  });
});
