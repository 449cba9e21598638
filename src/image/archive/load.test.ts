import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../common/index.ts';
import { writeTar, type TarWriterEntry } from '../../../test/fixtures/tar-writer.ts';
import { ContentStore } from '../content-store.ts';
import { MAX_ARCHIVE_METADATA_BYTES, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from '../limits.ts';
import { resolveArchive } from './load.ts';
import { stageArchive, type StagedArchive } from './stage.ts';

const work = mkdtempSync(join(tmpdir(), 'berth-test-archive-'));
after(() => rmSync(work, { recursive: true, force: true }));
let count = 0;

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function stage(entries: TarWriterEntry[]): Promise<{ staged: StagedArchive; content: ContentStore }> {
  const dir = join(work, `case-${++count}`);
  const content = new ContentStore(join(dir, 'content'));
  const staged = await stageArchive([writeTar(entries)], { content, stagingDir: join(dir, 'staging') });
  return { staged, content };
}

async function load(entries: TarWriterEntry[]) {
  const { staged, content } = await stage(entries);
  return resolveArchive(staged, content);
}

/** A legacy docker-archive of one image: layer tar, `<hex>.json` config, manifest.json. */
function legacyArchive(opts: { manifest?: string; config?: Buffer; extra?: TarWriterEntry[] } = {}): TarWriterEntry[] {
  const layer = writeTar([{ name: 'hello', data: 'hello\n' }]);
  const config = opts.config ?? Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const configName = `${sha256(config).slice(7)}.json`;
  return [
    { name: 'abc/layer.tar', data: layer },
    { name: configName, data: config },
    ...(opts.extra ?? []),
    { name: 'manifest.json', data: opts.manifest ?? JSON.stringify([{ Config: configName, RepoTags: ['app:v1'], Layers: ['abc/layer.tar'] }]) },
  ];
}

function rejectsWith(message: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof BerthError, `a BerthError, not ${String(err)}`);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  };
}

describe('stageArchive', () => {
  it('skips without keeping them the files berth never reads when an archive has repositories, oci-layout, VERSION and legacy <id>/json', async () => {
    const { staged } = await stage(legacyArchive({
      extra: [
        { name: 'repositories', data: '{"app":{"v1":"abc"}}' },
        { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
        { name: 'abc/VERSION', data: '1.0' },
        { name: 'abc/json', data: Buffer.alloc(1 << 20, 0x20) },
      ],
    }));
    assert.deepEqual([...staged.files.keys()].sort(), [legacyArchive()[1]!.name, 'manifest.json'].sort());
    assert.deepEqual([...staged.staged.keys()], ['abc/layer.tar']);
  });

  for (const name of ['manifest.json', 'index.json']) {
    it(`refuses a ${name} before reading it when its tar header says it is over 4 MiB`, async () => {
      const size = MAX_MANIFEST_BYTES + 1;
      await assert.rejects(stage([{ name, data: Buffer.alloc(size, 0x20) }]),
        rejectsWith(`invalid image archive: ${name} is ${size} bytes, more than the 4 MiB a manifest may have`));
    });
  }

  it('refuses an archive when its metadata holds more than 32 MiB in all', async () => {
    const files = Array.from({ length: Math.ceil(MAX_ARCHIVE_METADATA_BYTES / (7 << 20)) + 1 }, (_, i) => ({ name: `${i}.json`, data: Buffer.alloc(7 << 20, 0x20) }));
    await assert.rejects(stage(files), rejectsWith('invalid image archive: its metadata files (index.json, manifest.json, *.json) hold more than the 32 MiB berth reads of an archive'));
  });

  it('skips a *.json unread when it is too large to be a config, and refuses it once manifest.json names it as one', async () => {
    const head = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(writeTar([{ name: 'hello', data: 'hello\n' }]))] }, pad: '' };
    head.pad = 'x'.repeat(MAX_CONFIG_BYTES + 1 - JSON.stringify(head).length);
    const config = Buffer.from(JSON.stringify(head));
    const entries = legacyArchive({ config });
    const { staged, content } = await stage(entries);
    assert.deepEqual([...staged.oversized.values()], [config.length]);
    assert.equal(staged.files.has(entries[1]!.name), false);
    await assert.rejects(resolveArchive(staged, content), rejectsWith(`invalid image archive: image config ${entries[1]!.name} is ${config.length} bytes, more than the 8 MiB berth reads`));
  });
});

describe('resolveArchive', () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const badManifests: Array<[string, string, string | RegExp]> = [
    ['is null', 'null', 'invalid image archive: manifest.json is not a list of images'],
    ['is an object', '{}', 'invalid image archive: manifest.json is not a list of images'],
    ['holds null', '[null]', 'invalid image archive: manifest.json entry 0 is not an object'],
    ['has a Config that is a number', '[{"Config": 5, "Layers": []}]', 'invalid image archive: manifest.json entry 0: "Config" is not a path'],
    ['has Layers that are a string', '[{"Config": "c.json", "Layers": "x"}]', 'invalid image archive: manifest.json entry 0: "Layers" is not a list of paths'],
    ['has RepoTags that are a string', '[{"Config": "c.json", "Layers": [], "RepoTags": "x"}]', 'invalid image archive: manifest.json entry 0: "RepoTags" is not a list of names'],
    ['has a malformed RepoTag', '[{"Config": "c.json", "Layers": [], "RepoTags": ["UP:x"]}]', /^invalid image archive: manifest\.json RepoTags: invalid reference "UP:x": /],
    ['is JSON nested 100000 deep', deep, 'invalid image archive: manifest.json: JSON nested more than 64 levels deep'],
    ['is not JSON', '[{', /^invalid image archive: manifest\.json: not JSON \(/],
  ];
  for (const [what, manifest, message] of badManifests) {
    it(`names the problem when the manifest.json of the archive ${what}`, async () => {
      await assert.rejects(load(legacyArchive({ manifest })), rejectsWith(message));
    });
    it(`names the problem when the manifest.json beside an index.json ${what}`, async () => {
      await assert.rejects(load([...legacyArchive({ manifest }), { name: 'index.json', data: '{"schemaVersion":2,"manifests":[]}' }]), rejectsWith(message));
    });
  }

  const badIndexes: Array<[string, string, string | RegExp]> = [
    ['is null', 'null', 'invalid image archive: index.json: not a JSON object'],
    ['is a list', '[]', 'invalid image archive: index.json: not a JSON object'],
    ['has "manifests" that are a string', '{"schemaVersion": 2, "manifests": "x"}', 'invalid image archive: index.json: "manifests" is not a list'],
    ['has a manifest that is a number', '{"schemaVersion": 2, "manifests": [5]}', 'invalid image archive: index.json manifests[0]: descriptor is not an object'],
    ['has a descriptor of the wrong types', '{"schemaVersion": 2, "manifests": [{"mediaType": 5, "digest": [], "size": "1"}]}', 'invalid image archive: index.json manifests[0]: descriptor has no mediaType'],
    ['has schemaVersion "2"', '{"schemaVersion": "2", "manifests": []}', 'invalid image archive: index.json: schemaVersion "2" is not 2'],
    ['is nested 100000 deep', `{"schemaVersion": 2, "manifests": [], "x": ${deep}}`, 'invalid image archive: index.json: JSON nested more than 64 levels deep'],
  ];
  for (const [what, index, message] of badIndexes) {
    it(`names the problem when the index.json of the archive ${what}`, async () => {
      await assert.rejects(load([{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: index }]), rejectsWith(message));
    });
  }

  it('refuses a config when it nests deeper than 64 levels', async () => {
    const layer = writeTar([{ name: 'hello', data: 'hello\n' }]);
    const config = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["${sha256(layer)}"]},"x":${deep}}`);
    await assert.rejects(load(legacyArchive({ config })), rejectsWith('invalid image config: JSON nested more than 64 levels deep'));
  });
});
