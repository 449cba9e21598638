import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import type { Compression } from './decompress.ts';
import type { InflateData, InflateEngine } from './inflate-protocol.ts';
import { Inflater, UnpackWorkerError } from './inflate-worker.ts';
import { OUT_RING_BYTES, UnpackSignals } from './unpack-signals.ts';

/** Feed `input` in `step`-byte pieces while reading the output back, releasing it as it is read. */
async function inflate(kind: Compression, input: Buffer, opts: { step?: number; engine?: InflateData['engine'] } = {}): Promise<{ out: Buffer; diffId: string; engine: InflateEngine }> {
  const signals = new UnpackSignals();
  const inflater = new Inflater(signals, kind, { engine: opts.engine ?? 'auto' });
  const parts: Buffer[] = [];
  let released = 0;
  try {
    const feeding = (async () => {
      const step = opts.step ?? 7001;
      for (let i = 0; i < input.length; i += step) await inflater.write(input.subarray(i, i + step));
      inflater.end();
    })();
    for (let run = await inflater.next(() => released); run !== undefined; run = await inflater.next(() => released)) {
      parts.push(Buffer.from(run.view)); // copied: the ring is reused once released
      released = (run.position + run.view.length) >>> 0;
      inflater.release(released);
    }
    await feeding;
    return { out: Buffer.concat(parts), ...inflater.result() };
  } finally {
    await inflater.close();
  }
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('Inflater', () => {
  // larger than the output ring, so that it wraps around and waits for room
  const tar = Buffer.concat([randomBytes(OUT_RING_BYTES / 2), Buffer.alloc(OUT_RING_BYTES, 'berth '), randomBytes(12345)]);
  const inputs: Record<Compression, Buffer> = { gzip: gzipSync(tar, { level: 1 }), zstd: zstdCompressSync(tar), none: tar };

  for (const engine of ['isa-l', 'zlib'] as const) {
    for (const kind of engine === 'isa-l' ? ['gzip'] as const : ['gzip', 'zstd', 'none'] as const) {
      it(`restores a ${kind} tar larger than its ring with its sha256 (${engine})`, async () => {
        const result = await inflate(kind, inputs[kind], { engine });
        assert.equal(result.out.length, tar.length);
        assert.ok(result.out.equals(tar));
        assert.equal(result.diffId, sha256(tar));
        assert.equal(result.engine, kind === 'none' ? 'copy' : engine);
      });
    }

    it(`fails with zlib's error when a gzip stream is cut short or corrupt (${engine})`, async () => {
      const gz = gzipSync(Buffer.alloc(100_000, 'x'));
      await assert.rejects(inflate('gzip', gz.subarray(0, gz.length - 20), { engine }), (err: unknown) => {
        assert.ok(err instanceof UnpackWorkerError);
        assert.equal(err.message, 'unexpected end of file');
        assert.equal(err.code, 'Z_BUF_ERROR');
        return true;
      });
      const corrupt = Buffer.from(gz);
      corrupt[corrupt.length - 6] = (corrupt[corrupt.length - 6] ?? 0) ^ 0xff; // the CRC
      await assert.rejects(inflate('gzip', corrupt, { engine }), (err: unknown) => err instanceof UnpackWorkerError && err.code === 'Z_DATA_ERROR');
      const notGzip = Buffer.from(gz);
      notGzip[0] = 0x1e;
      await assert.rejects(inflate('gzip', notGzip, { engine }), (err: unknown) => err instanceof UnpackWorkerError && err.code === 'Z_DATA_ERROR' && err.message === 'incorrect header check');
    });

    it(`reads every member of a multi-member gzip stream, and ignores zeros after it (${engine})`, async () => {
      const parts = [randomBytes(3_000_000), Buffer.alloc(5_000_000, 'berth '), randomBytes(10)];
      const gz = Buffer.concat([...parts.map((part) => gzipSync(part, { level: 1 })), Buffer.alloc(700)]);
      const result = await inflate('gzip', gz, { engine });
      assert.ok(result.out.equals(Buffer.concat(parts)));
    });
  }

  it('uses ISA-L for gzip by default where libisal2 is installed (./setup.sh installs it)', async () => {
    const gz = gzipSync(Buffer.alloc(10_000, 'x'));
    assert.equal((await inflate('gzip', gz)).engine, 'isa-l');
    assert.equal((await inflate('zstd', zstdCompressSync(Buffer.alloc(10_000, 'x')))).engine, 'zlib');
  });

  it('passes an empty input through as an empty tar', async () => {
    const { out, diffId } = await inflate('none', Buffer.alloc(0));
    assert.equal(out.length, 0);
    assert.equal(diffId, sha256(Buffer.alloc(0)));
  });

  it('ignores what follows the end of a gzip stream, as Node\'s gunzip does, when zeros pad it', async () => {
    const data = randomBytes(50_000);
    const { out } = await inflate('gzip', Buffer.concat([gzipSync(data), Buffer.alloc(1000)]));
    assert.ok(out.equals(data));
  });

  it('lets a process end cleanly that started the unpacker\'s threads, used or not (no abort in koffi\'s set-up)', () => {
    const modules = {
      Inflater: new URL('./inflate-worker.ts', import.meta.url).href,
      prewarmUnpack: new URL('./unpack.ts', import.meta.url).href,
      UnpackSignals: new URL('./unpack-signals.ts', import.meta.url).href,
    };
    // each script ends (or stops its thread) after `ms`, 0-75: some of those while a thread loads koffi
    const scripts = [
      (ms: number) => `import { Inflater } from ${JSON.stringify(modules.Inflater)}; Inflater.prewarm();
        const until = Date.now() + ${ms}; while (Date.now() < until);`,
      (ms: number) => `import { prewarmUnpack } from ${JSON.stringify(modules.prewarmUnpack)}; prewarmUnpack();
        const until = Date.now() + ${ms}; while (Date.now() < until);`,
      // a thread in use, stopped early: while it loads ISA-L through koffi
      (ms: number) => `import { Inflater } from ${JSON.stringify(modules.Inflater)}; import { UnpackSignals } from ${JSON.stringify(modules.UnpackSignals)};
        const inflater = new Inflater(new UnpackSignals(), 'gzip'); await new Promise((done) => setTimeout(done, ${ms})); await inflater.close();`,
    ];
    for (let i = 0; i < 48; i++) {
      const script = scripts[i % 3] as (ms: number) => string;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(Math.floor(i / 3) * 5)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /FATAL/);
    }
  });
});
