/**
 * `docker stats` through `berth serve`, on whichever cgroup version the host has: this file
 * also runs in the cgroup v2 VM (scripts/test.mjs CG2VM_TESTS), so docker's stats JSON is
 * checked on v1 (per-CPU usage, total_inactive_file) and v2 (no per-CPU usage, inactive_file).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { busyboxRoot } from '../fixtures/berth-cli.ts';
import { startServe, type Serve } from '../fixtures/serve.ts';

const DOCKER = '/usr/local/bin/docker';
const skip = process.getuid?.() !== 0 ? 'the Docker API e2e tests need root' : !existsSync(DOCKER) ? `no docker CLI at ${DOCKER}` : false;
const cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers');

describe(`docker stats through berth serve (cgroup ${cgroupV2 ? 'v2' : 'v1'})`, { skip }, () => {
  let box: ReturnType<typeof busyboxRoot>;
  let socket = '';
  let server: Serve | undefined;
  before(async () => {
    box = busyboxRoot('stats');
    server = await startServe(box.root);
    socket = server.socket;
  });
  after(async () => {
    await server?.stop();
    box?.remove();
  });
  const docker = (args: string[]) => {
    const r = spawnSync(DOCKER, args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(box.root, 'docker-config') }, timeout: 120_000 });
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  it('shows the memory limit, CPU and pids as the docker CLI reads them, and the raw JSON has this cgroup version\'s fields', async () => {
    const id = docker(['run', '-d', '--name', 'st', '--memory', '64m', '--network', 'none', 'busybox', 'sh', '-c', 'while :; do :; done']).trim();
    assert.match(docker(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', 'st']), /^st [\d.]+[KMG]?i?B \/ 64MiB [12]\n$/);
    const doc = await new Promise<Record<string, any>>((resolve, reject) => {
      const req = request({ socketPath: socket, path: `/v1.47/containers/${id}/stats?stream=false`, method: 'GET' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(doc.memory_stats.limit, 64 << 20);
    assert.ok(doc.cpu_stats.cpu_usage.total_usage > doc.precpu_stats.cpu_usage.total_usage, 'a busy loop uses CPU between the two readings');
    assert.ok(doc.cpu_stats.online_cpus >= 1 && doc.cpu_stats.system_cpu_usage > 0);
    assert.ok(doc.pids_stats.current >= 1);
    if (cgroupV2) {
      assert.equal(doc.cpu_stats.cpu_usage.percpu_usage, undefined, 'v2 reports no per-CPU usage');
      assert.ok('inactive_file' in doc.memory_stats.stats);
    } else {
      assert.ok(Array.isArray(doc.cpu_stats.cpu_usage.percpu_usage) && doc.cpu_stats.cpu_usage.percpu_usage.length >= 1);
      assert.ok('total_inactive_file' in doc.memory_stats.stats);
    }
    docker(['rm', '-f', 'st']);
  });
});
