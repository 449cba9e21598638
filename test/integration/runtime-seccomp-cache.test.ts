/**
 * Compiled seccomp filters are kept (src/runtime/seccomp-cache.ts): the first container of a
 * profile compiles it with libseccomp, later ones load the kept BPF. The filter must be the same
 * either way, a kept file is used only for exactly its own profile, and a damaged one is
 * compiled again.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { harness, skipUnlessRoot } from './helpers.ts';
import type { RuntimeConfig } from '../../src/oci/index.ts';
import { uniqueId } from '../fixtures/bundle.ts';

const profile = (blocked: string): NonNullable<RuntimeConfig['linux']>['seccomp'] => ({
  defaultAction: 'SCMP_ACT_ALLOW',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  // mkdir(2) and mkdirat(2): busybox's mkdir uses either
  syscalls: [{ names: blocked === 'mkdir' ? ['mkdir', 'mkdirat'] : [blocked], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
});

describe('berth-runtime: the seccomp cache', { skip: skipUnlessRoot }, () => {
  const h = harness();
  after(() => h.cleanup());
  const cacheDir = () => join(h.rootDir, '.seccomp-cache');
  const files = () => readdirSync(cacheDir()).filter((f) => f.endsWith('.bpf')).sort();
  const probe = (blocked: string) =>
    h.run((c) => {
      c.process!.args = ['/bin/sh', '-c', 'mkdir /tmp/d 2>&1 && echo mkdir-ok; hostname'];
      c.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
      c.linux!.seccomp = profile(blocked);
    });

  it('compiles a profile once, then loads the kept filter, which blocks the same syscalls', async () => {
    let r = await probe('mkdir');
    assert.match(r.stdout, /Operation not permitted/);
    assert.equal(files().length, 1, 'compiled and kept');
    const explain = await h.runtime.explain(uniqueId(), { bundleDir: h.bundle((c) => (c.linux!.seccomp = profile('mkdir'))).bundleDir });
    assert.match(explain, /compiled by libseccomp for an earlier container \(kept in the runtime's seccomp cache\)/);
    r = await probe('mkdir');
    assert.match(r.stdout, /Operation not permitted/, 'the kept filter blocks mkdir too');
    assert.equal(files().length, 1);
    // another profile is another filter: mkdir works there
    r = await probe('rmdir');
    assert.equal(files().length, 2);
    assert.match(r.stdout, /mkdir-ok/);
  });

  it('uses a kept file only for its own profile, and compiles again when the file is damaged', async () => {
    for (const f of files()) {
      const path = join(cacheDir(), f);
      const data = readFileSync(path);
      // the same name, another profile's key inside: never loaded for this one
      writeFileSync(path, Buffer.concat([data.subarray(0, 4), Buffer.from(data.subarray(4, 4 + data.readUInt32LE(0)).toString().replace('mkdir', 'rmdir!')), data.subarray(4 + data.readUInt32LE(0))]));
    }
    let r = await probe('mkdir');
    assert.match(r.stdout, /Operation not permitted/);
    for (const f of files()) writeFileSync(join(cacheDir(), f), 'garbage');
    r = await probe('mkdir');
    assert.match(r.stdout, /Operation not permitted/);
    r = await probe('rmdir');
    assert.match(r.stdout, /mkdir-ok/);
  });
});
