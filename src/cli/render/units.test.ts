import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatG, goTime, humanDuration, humanSize, timeAgo } from './units.ts';

describe('humanSize', () => {
  it('prints sizes as docker does (decimal units, 3 significant digits)', () => {
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
    assert.equal(humanSize(4_261_550), '4.26MB');
    assert.equal(humanSize(118_000), '118kB');
    assert.equal(humanSize(1_982_903), '1.98MB');
    assert.equal(humanSize(77_800_000), '77.8MB');
    assert.equal(humanSize(1_500_000_000), '1.5GB');
    assert.equal(humanSize(2_181_000, 4), '2.181MB');
  });

  it('falls back to Go\'s exponent form where %g does', () => {
    assert.equal(formatG(999.9, 3), '1e+03');
    assert.equal(formatG(0.00001, 3), '1e-05');
    assert.equal(formatG(12.5, 3), '12.5');
  });
});

describe('humanDuration', () => {
  it('says what docker says', () => {
    assert.equal(humanDuration(500), 'Less than a second');
    assert.equal(humanDuration(1000), '1 second');
    assert.equal(humanDuration(45_000), '45 seconds');
    assert.equal(humanDuration(90_000), 'About a minute');
    assert.equal(humanDuration(10 * 60_000), '10 minutes');
    assert.equal(humanDuration(60 * 60_000), 'About an hour');
    assert.equal(humanDuration(5 * 3_600_000), '5 hours');
    assert.equal(humanDuration(3 * 86_400_000), '3 days');
    assert.equal(humanDuration(21 * 86_400_000), '3 weeks');
    assert.equal(humanDuration(90 * 86_400_000), '3 months');
    assert.equal(humanDuration(800 * 86_400_000), '2 years');
  });

  it('prints unknown creation times as N/A and known ones in Go\'s format', () => {
    assert.equal(timeAgo(0), 'N/A');
    assert.equal(timeAgo(1_700_000_000, 1_700_000_000_000 + 7_200_000), '2 hours ago');
    assert.equal(goTime(1_700_000_000), '2023-11-14 22:13:20 +0000 UTC');
  });
});
