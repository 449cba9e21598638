import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { signalProcess } from './signal.ts';

describe('signalProcess', () => {
  it('refuses every pid that kill(2) reads as a group or as everyone, and sends nothing', () => {
    // were 0 passed on, this test's own process group (the test runner with it) would get SIGTERM
    for (const pid of [0, -1, -process.pid, Number.NaN, 1.5, Number(''), Number('x')]) {
      assert.throws(() => signalProcess(pid, 'SIGTERM'), /refusing to send signal SIGTERM to pid .*: that is not one process/);
    }
  });

  it('signals the one process it names', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    signalProcess(child.pid!, 'SIGTERM');
    const [code, signal] = await exited;
    assert.equal(code, null);
    assert.equal(signal, 'SIGTERM');
  });
});
