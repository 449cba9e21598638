import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../common/index.ts';
import { fullConfig, minimalConfig } from './config-fixture.ts';
import { stringifyJsonLossless } from './json.ts';
import { RLIM_INFINITY } from './rlimits.ts';
import { parseRuntimeConfig, validateRuntimeConfig } from './validate.ts';
import { assertRejected, variant } from './validate-assert.ts';

describe('parseRuntimeConfig', () => {
  it('accepts a full containerd-like config and round-trips it unchanged', () => {
    const config = fullConfig();
    const text = stringifyJsonLossless(config);
    const parsed = parseRuntimeConfig(text);
    assert.deepEqual(parsed, config);
    assert.equal(stringifyJsonLossless(parsed), text);
  });

  it('reports line and column when the JSON is malformed', () => {
    const text = '{\n  "ociVersion": "1.2.0",\n  "root": {"path": "rootfs"}\n  "process": {}\n}';
    assert.throws(
      () => parseRuntimeConfig(text),
      (err: unknown) =>
        err instanceof BerthError &&
        err.code === 'INVALID_ARGUMENT' &&
        err.message === `invalid config.json: malformed JSON at line 4, column 3 (offset 58): expected ',' or '}' after property value, found '"'`,
    );
  });

  it('reports the end of input when the document is cut short', () => {
    assert.throws(() => parseRuntimeConfig('{"ociVersion": "1.2.0", "root": {'), /malformed JSON at line 1, column 34 .*: expected a property name/);
    assert.throws(() => parseRuntimeConfig(''), /invalid config\.json: malformed JSON at line 1, column 1 .*unexpected end of input/);
  });

  it('names the source in the message when one is given', () => {
    assert.throws(() => parseRuntimeConfig('[', '/run/bundle/config.json'), /^BerthError: invalid \/run\/bundle\/config\.json: malformed JSON/);
  });

  it('keeps 64-bit limits exact when they exceed 2^53', () => {
    const text = JSON.stringify(minimalConfig()).replace(
      '"cwd":"/"',
      '"cwd":"/","rlimits":[{"type":"RLIMIT_MEMLOCK","hard":18446744073709551615,"soft":18446744073709551615}]',
    );
    const config = parseRuntimeConfig(text);
    assert.equal(config.process?.rlimits?.[0]?.hard, RLIM_INFINITY);
    assert.match(stringifyJsonLossless(config, 0), /"hard":18446744073709551615,"soft":18446744073709551615/);
  });
});

describe('validateRuntimeConfig', () => {
  it('accepts the minimal config', () => {
    assert.deepEqual(validateRuntimeConfig(minimalConfig()), minimalConfig());
  });

  it('keeps unknown fields when they are present (forward compatibility)', () => {
    const config = variant((c) => {
      c['vm'] = { hypervisor: { path: '/usr/bin/qemu' } };
      c['org.example/extension'] = [1, 2, 3];
      c['process']['futureField'] = true;
    });
    assert.deepEqual(validateRuntimeConfig(config), config);
  });

  it('treats null as absent and leaves the input untouched when it cleans up', () => {
    const config = variant((c) => {
      c['mounts'] = null;
      c['process']['env'] = null;
      delete c['process']['user'];
    });
    const before = structuredClone(config);
    const result = validateRuntimeConfig(config);
    assert.deepEqual(config, before);
    assert.equal('mounts' in result, false);
    assert.equal('env' in (result.process ?? {}), false);
    assert.deepEqual(result.process?.user, { uid: 0, gid: 0 });
  });

  it('rejects a document that is not an object', () => {
    assert.throws(() => validateRuntimeConfig([]), /^BerthError: invalid config\.json: expected a JSON object at the top level, got an array$/);
  });

  it('rejects a missing or malformed ociVersion', () => {
    assertRejected(variant((c) => delete c['ociVersion']), 'ociVersion', 'is required');
    assertRejected(variant((c) => (c['ociVersion'] = 1.2)), 'ociVersion', 'expected a string, got a number 1.2');
    assertRejected(variant((c) => (c['ociVersion'] = 'latest')), 'ociVersion', 'is not a version like "1.2.0"');
    assertRejected(variant((c) => (c['ociVersion'] = '2.0.0')), 'ociVersion', 'unsupported version "2.0.0"');
  });

  it('rejects a missing root or root.path', () => {
    const err = assertRejected(variant((c) => delete c['root']), 'root', 'is required');
    assert.match(err.hint ?? '', /"root": \{"path": "rootfs"\}/);
    assertRejected(variant((c) => (c['root'] = {})), 'root.path', 'is required');
    assertRejected(variant((c) => (c['root'] = { path: '' })), 'root.path', 'is empty');
    assertRejected(variant((c) => (c['root'] = { path: 'rootfs', readonly: 'yes' })), 'root.readonly', 'expected true or false, got a string "yes"');
  });

  it('rejects fields of the wrong type at any depth', () => {
    assertRejected(variant((c) => (c['process']['args'] = 'sh')), 'process.args', 'expected an array, got a string "sh"');
    assertRejected(variant((c) => (c['process']['args'] = ['sh', 5])), 'process.args[1]', 'expected a string, got a number 5');
    assertRejected(variant((c) => (c['process']['user']['uid'] = '0')), 'process.user.uid', 'got a string "0"');
    assertRejected(variant((c) => (c['process']['user']['uid'] = -1)), 'process.user.uid', 'between 0 and 2147483647, got -1');
    // 4294967295 is (uid_t)-1: setresuid would leave the process root. Nothing above 2^31-1 enters.
    assertRejected(variant((c) => (c['process']['user']['uid'] = 4294967295)), 'process.user.uid', 'between 0 and 2147483647, got 4294967295');
    assertRejected(variant((c) => (c['process']['user']['gid'] = 2147483648)), 'process.user.gid', 'between 0 and 2147483647, got 2147483648');
    assertRejected(variant((c) => (c['process']['user']['additionalGids'] = [1, 4294967295])), 'process.user.additionalGids[1]', 'between 0 and 2147483647, got 4294967295');
    assertRejected(variant((c) => (c['process']['user']['gid'] = 1.5)), 'process.user.gid', 'got a number 1.5');
    assertRejected(variant((c) => (c['process']['user']['additionalGids'] = [1, -2])), 'process.user.additionalGids[1]', 'got -2');
    assertRejected(variant((c) => (c['process']['terminal'] = 1)), 'process.terminal', 'expected true or false');
    assertRejected(variant((c) => (c['mounts'] = {})), 'mounts', 'expected an array, got an object');
    assertRejected(variant((c) => (c['annotations'] = { a: 1 })), 'annotations["a"]', 'expected a string, got a number 1');
    assertRejected(variant((c) => (c['linux'] = [])), 'linux', 'expected an object, got an array');
    assertRejected(
      variant((c) => (c['linux']['resources']['memory']['limit'] = '512m'), 'full'),
      'linux.resources.memory.limit',
      'expected an integer (int64), got a string "512m"',
    );
    assertRejected(variant((c) => (c['process']['args'] = ['sh\0evil'])), 'process.args[0]', 'contains a NUL byte');
  });

  it('rejects process.args when it is missing or empty', () => {
    assertRejected(variant((c) => delete c['process']['args']), 'process.args', 'is required');
    assertRejected(variant((c) => (c['process']['args'] = [])), 'process.args', 'must name the program to run');
  });

  it('accepts a config without process (it is only needed to start)', () => {
    assert.equal(validateRuntimeConfig(variant((c) => delete c['process'])).process, undefined);
  });

  it('rejects a relative or missing cwd', () => {
    assertRejected(variant((c) => (c['process']['cwd'] = 'srv/www')), 'process.cwd', 'working directory "srv/www" is not an absolute path');
    assertRejected(variant((c) => delete c['process']['cwd']), 'process.cwd', 'is required');
  });

  it('rejects env entries without a name and value', () => {
    assertRejected(variant((c) => (c['process']['env'] = ['PATH=/bin', 'FOO'])), 'process.env[1]', '"FOO" has no "="');
    assertRejected(variant((c) => (c['process']['env'] = ['=x'])), 'process.env[0]', 'empty variable name');
  });

  it('rejects a name that is no capability, and accepts unknown CAP_ names (skipped later, with a warning)', () => {
    assert.doesNotThrow(() => validateRuntimeConfig(variant((c) => (c['process']['capabilities'] = { bounding: ['CAP_CHOWN', 'CAP_FLY'] }))));
    const err = assertRejected(variant((c) => (c['process']['capabilities'] = { ambient: ['net_admin'] })), 'process.capabilities.ambient[0]', 'unknown capability "net_admin"');
    assert.equal(err.hint, 'did you mean "CAP_NET_ADMIN"?');
    const ok = variant((c) => (c['process']['capabilities'] = { effective: ['CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'] }));
    assert.doesNotThrow(() => validateRuntimeConfig(ok));
  });

  it('rejects an unknown rlimit, soft above hard, and duplicates', () => {
    const limits = (l: unknown) => variant((c) => (c['process']['rlimits'] = l));
    assertRejected(limits([{ type: 'RLIMIT_FOO', hard: 1, soft: 1 }]), 'process.rlimits[0].type', 'unknown rlimit "RLIMIT_FOO" (expected one of RLIMIT_CPU,');
    const err = assertRejected(limits([{ type: 'nofile', hard: 1, soft: 1 }]), 'process.rlimits[0].type', 'unknown rlimit "nofile"');
    assert.equal(err.hint, 'did you mean "RLIMIT_NOFILE"?');
    assertRejected(limits([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 4096 }]), 'process.rlimits[0]', 'soft limit 4096 is above hard limit 1024');
    assertRejected(limits([{ type: 'RLIMIT_NOFILE', hard: 1024 }]), 'process.rlimits[0].soft', 'is required');
    assertRejected(
      limits([
        { type: 'RLIMIT_NOFILE', hard: 1, soft: 1 },
        { type: 'RLIMIT_NOFILE', hard: 2, soft: 2 },
      ]),
      'process.rlimits[1]',
      'duplicate rlimit "RLIMIT_NOFILE" (already at process.rlimits[0])',
    );
  });

  it('rejects oomScoreAdj outside -1000..1000', () => {
    assertRejected(variant((c) => (c['process']['oomScoreAdj'] = 1001)), 'process.oomScoreAdj', 'between -1000 and 1000, got 1001');
    assertRejected(variant((c) => (c['process']['oomScoreAdj'] = -1001)), 'process.oomScoreAdj', 'got -1001');
    assert.doesNotThrow(() => validateRuntimeConfig(variant((c) => (c['process']['oomScoreAdj'] = -1000))));
  });

  it('rejects scheduler settings the policy does not take', () => {
    assertRejected(variant((c) => (c['process']['scheduler'] = { policy: 'SCHED_FAST' })), 'process.scheduler.policy', 'unknown scheduler policy "SCHED_FAST"');
    assertRejected(variant((c) => (c['process']['scheduler'] = { policy: 'SCHED_OTHER', priority: 10 })), 'process.scheduler.priority', 'only applies to SCHED_FIFO and SCHED_RR');
    assertRejected(variant((c) => (c['process']['scheduler'] = { policy: 'SCHED_OTHER', nice: 20 })), 'process.scheduler.nice', 'between -20 and 19');
    assertRejected(variant((c) => (c['process']['scheduler'] = { policy: 'SCHED_RR', runtime: 100 })), 'process.scheduler', 'only apply to SCHED_DEADLINE');
    assertRejected(variant((c) => (c['process']['ioPriority'] = { class: 'IOPRIO_CLASS_RT', priority: 8 })), 'process.ioPriority.priority', 'between 0 and 7');
  });

  it('rejects a relative mount destination', () => {
    assertRejected(
      variant((c) => (c['mounts'] = [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: 'data', type: 'bind', source: '/srv' }])),
      'mounts[1].destination',
      'mount destination "data" is not an absolute path',
    );
    assertRejected(variant((c) => (c['mounts'] = [{ type: 'tmpfs' }])), 'mounts[0].destination', 'is required');
  });

  it('accepts unknown mount options (they are filesystem data)', () => {
    const config = variant((c) => (c['mounts'] = [{ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['size=64k', 'mode=1777', 'huge=within_size', 'frobnicate'] }]));
    assert.doesNotThrow(() => validateRuntimeConfig(config));
  });

  it('rejects id-mapped mounts that are not bind mounts or lack one of the maps', () => {
    const map = [{ containerID: 0, hostID: 1000, size: 1 }];
    assertRejected(variant((c) => (c['mounts'] = [{ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }])), 'mounts[0]', 'id-mapped mounts must be bind mounts');
    assertRejected(variant((c) => (c['mounts'] = [{ destination: '/x', source: '/y', options: ['bind'], uidMappings: map }])), 'mounts[0].gidMappings', 'is required when the other');
    assertRejected(
      variant((c) => (c['mounts'] = [{ destination: '/x', source: '/y', options: ['bind'], uidMappings: [{ containerID: 0, hostID: 1, size: 0 }], gidMappings: map }])),
      'mounts[0].uidMappings[0].size',
      'must be at least 1',
    );
  });

  it('rejects hooks with a relative path or a timeout that is not positive', () => {
    assertRejected(variant((c) => (c['hooks'] = { poststart: [{ path: 'notify' }] })), 'hooks.poststart[0].path', 'hook program "notify" is not an absolute path');
    assertRejected(variant((c) => (c['hooks'] = { poststop: [{ path: '/bin/true', timeout: 0 }] })), 'hooks.poststop[0].timeout', 'must be greater than zero, got 0');
    assertRejected(variant((c) => (c['hooks'] = { prestart: {} })), 'hooks.prestart', 'expected an array, got an object');
  });

  it('rejects hostname and domainname without a uts namespace of the container', () => {
    assertRejected(variant((c) => (c['hostname'] = 'web')), 'hostname', 'set to "web", but there is no uts namespace in linux.namespaces');
    assertRejected(
      variant((c) => {
        c['domainname'] = 'example.org';
        c['linux'] = { namespaces: [{ type: 'pid' }] };
      }),
      'domainname',
      'no uts namespace',
    );
    assert.doesNotThrow(() => validateRuntimeConfig(variant((c) => ((c['hostname'] = 'web'), (c['linux'] = { namespaces: [{ type: 'uts' }] })))));
    assertRejected(variant((c) => ((c['hostname'] = 'x'.repeat(65)), (c['linux'] = { namespaces: [{ type: 'uts' }] }))), 'hostname', 'at most 64');
  });
});
