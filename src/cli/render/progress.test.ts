import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LayerProgress, progressBar } from './progress.ts';

const digest = 'sha256:' + 'ab'.repeat(32);

describe('LayerProgress', () => {
  it('prints one plain line per status change when not on a terminal', () => {
    let out = '';
    const p = new LayerProgress({ write: (t) => (out += t), isTty: false });
    p.onEvent({ type: 'layer', digest, status: 'waiting' });
    p.onEvent({ type: 'layer', digest, status: 'downloading', current: 10, total: 100 });
    p.onEvent({ type: 'layer', digest, status: 'downloading', current: 50, total: 100 });
    p.onEvent({ type: 'layer', digest, status: 'extracting', current: 1, total: 100 });
    p.onEvent({ type: 'layer', digest, status: 'done' });
    assert.equal(out, 'abababababab: Pulling fs layer\nabababababab: Downloading\nabababababab: Download complete\nabababababab: Extracting\nabababababab: Pull complete\n');
  });

  it('redraws a layer\'s line in place on a terminal', () => {
    let out = '';
    const p = new LayerProgress({ write: (t) => (out += t), isTty: true, columns: 120 });
    const other = 'sha256:' + 'cd'.repeat(32);
    p.onEvent({ type: 'layer', digest, status: 'waiting' });
    p.onEvent({ type: 'layer', digest: other, status: 'waiting' });
    p.onEvent({ type: 'layer', digest, status: 'done' });
    assert.equal(out, 'abababababab: Waiting\ncdcdcdcdcdcd: Waiting\n\x1b[2A\r\x1b[2Kabababababab: Pull complete\x1b[2B\r');
  });

  it('draws docker\'s bar on wide terminals', () => {
    assert.equal(progressBar(1_049_000, 2_181_000, 120), `[${'='.repeat(24)}>${' '.repeat(26)}]  1.049MB/2.181MB`);
    assert.equal(progressBar(1_049_000, 2_181_000, 80), ' 1.049MB/2.181MB');
  });
});
