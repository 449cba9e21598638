/**
 * Resource usage of a cgroup, read from the v1 or v2 control files, in the shape of
 * `runc events --stats`. Times are nanoseconds, sizes bytes, limits null when unlimited.
 */
import { join } from 'node:path';
import { parseFlatKeyed, parseLimit, parseNestedKeyed, parseNumber, readControlIfExists } from './fs.ts';
import type { BlkioEntry, CgroupStats, MemoryUsage } from './driver.ts';

/** USER_HZ: the unit of cpuacct.stat (100 on every Linux architecture berth runs on). */
const USER_HZ = 100;
const NS_PER_TICK = 1e9 / USER_HZ;

/** The directories of one cgroup in each v1 hierarchy that stats are read from. */
export interface V1StatsDirs {
  cpu?: string | undefined;
  cpuacct?: string | undefined;
  memory?: string | undefined;
  pids?: string | undefined;
  blkio?: string | undefined;
}

const read = (dir: string, file: string) => readControlIfExists(join(dir, file));

export async function readV1Stats(dirs: V1StatsDirs): Promise<CgroupStats> {
  const stats: CgroupStats = {};
  const usageText = dirs.cpuacct === undefined ? undefined : await read(dirs.cpuacct, 'cpuacct.usage');
  const cpuStatText = dirs.cpu === undefined ? undefined : await read(dirs.cpu, 'cpu.stat');
  if (usageText !== undefined || cpuStatText !== undefined) {
    let kernel = 0;
    let user = 0;
    let percpu: number[] = [];
    if (dirs.cpuacct !== undefined && usageText !== undefined) {
      const userNs = await read(dirs.cpuacct, 'cpuacct.usage_user');
      const sysNs = await read(dirs.cpuacct, 'cpuacct.usage_sys');
      if (userNs !== undefined && sysNs !== undefined) {
        user = parseNumber(userNs);
        kernel = parseNumber(sysNs);
      } else {
        const ticks = parseFlatKeyed((await read(dirs.cpuacct, 'cpuacct.stat')) ?? '');
        user = (ticks.get('user') ?? 0) * NS_PER_TICK;
        kernel = (ticks.get('system') ?? 0) * NS_PER_TICK;
      }
      percpu = ((await read(dirs.cpuacct, 'cpuacct.usage_percpu')) ?? '').split(/\s+/).filter((x) => x !== '').map(Number);
    }
    const cpuStat = parseFlatKeyed(cpuStatText ?? '');
    stats.cpu = {
      usage: { total: parseNumber(usageText), percpu, kernel, user },
      throttling: {
        periods: cpuStat.get('nr_periods') ?? 0,
        throttledPeriods: cpuStat.get('nr_throttled') ?? 0,
        throttledTime: cpuStat.get('throttled_time') ?? 0,
      },
    };
  }
  if (dirs.memory !== undefined) {
    const dir = dirs.memory;
    const usage = await read(dir, 'memory.usage_in_bytes');
    if (usage !== undefined) {
      const raw = Object.fromEntries(parseFlatKeyed((await read(dir, 'memory.stat')) ?? ''));
      const entry = async (prefix: string): Promise<MemoryUsage> => {
        const limit = await read(dir, `${prefix}.limit_in_bytes`);
        return {
          usage: parseNumber(await read(dir, `${prefix}.usage_in_bytes`)),
          max: parseNumber(await read(dir, `${prefix}.max_usage_in_bytes`)),
          limit: limit === undefined ? null : parseLimit(limit),
          failcnt: parseNumber(await read(dir, `${prefix}.failcnt`)),
        };
      };
      stats.memory = { usage: await entry('memory'), swap: await entry('memory.memsw'), cache: raw.cache ?? 0, raw };
    }
  }
  if (dirs.pids !== undefined) {
    const pids = await readPids(dirs.pids);
    if (pids) stats.pids = pids;
  }
  if (dirs.blkio !== undefined) {
    const dir = dirs.blkio;
    const bytes = (await read(dir, 'blkio.throttle.io_service_bytes_recursive')) ?? (await read(dir, 'blkio.throttle.io_service_bytes'));
    const ios = (await read(dir, 'blkio.throttle.io_serviced_recursive')) ?? (await read(dir, 'blkio.throttle.io_serviced'));
    if (bytes !== undefined || ios !== undefined) {
      stats.blkio = { ioServiceBytesRecursive: parseBlkioV1(bytes ?? ''), ioServicedRecursive: parseBlkioV1(ios ?? '') };
    }
  }
  return stats;
}

/** "8:0 Read 4096" lines; the closing "Total N" line (no device) is left out. */
export function parseBlkioV1(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (match) out.push({ major: Number(match[1]), minor: Number(match[2]), op: match[3] as string, value: Number(match[4]) });
  }
  return out;
}

async function readPids(dir: string): Promise<CgroupStats['pids']> {
  const current = await read(dir, 'pids.current');
  if (current === undefined) return undefined;
  const max = await read(dir, 'pids.max');
  return { current: parseNumber(current), limit: max === undefined ? null : parseLimit(max) };
}

export async function readV2Stats(dir: string): Promise<CgroupStats> {
  const stats: CgroupStats = {};
  const cpuStatText = await read(dir, 'cpu.stat');
  if (cpuStatText !== undefined) {
    const cpu = parseFlatKeyed(cpuStatText);
    const us = (key: string) => (cpu.get(key) ?? 0) * 1000;
    stats.cpu = {
      usage: { total: us('usage_usec'), percpu: [], kernel: us('system_usec'), user: us('user_usec') },
      throttling: { periods: cpu.get('nr_periods') ?? 0, throttledPeriods: cpu.get('nr_throttled') ?? 0, throttledTime: us('throttled_usec') },
    };
  }
  const current = await read(dir, 'memory.current');
  if (current !== undefined) {
    const raw = Object.fromEntries(parseFlatKeyed((await read(dir, 'memory.stat')) ?? ''));
    const limitOf = async (file: string) => {
      const text = await read(dir, file);
      return text === undefined ? null : parseLimit(text);
    };
    const events = parseFlatKeyed((await read(dir, 'memory.events')) ?? '');
    const usage: MemoryUsage = {
      usage: parseNumber(current),
      max: parseNumber(await read(dir, 'memory.peak')),
      limit: await limitOf('memory.max'),
      failcnt: events.get('max') ?? 0,
    };
    // v1 reports swap as memory+swap; add up the v2 values the same way (as runc does).
    const swapCurrent = parseNumber(await read(dir, 'memory.swap.current'));
    const swapLimit = await limitOf('memory.swap.max');
    const swapEvents = parseFlatKeyed((await read(dir, 'memory.swap.events')) ?? '');
    const swap: MemoryUsage = {
      usage: swapCurrent + usage.usage,
      max: 0,
      limit: swapLimit === null || usage.limit === null ? null : swapLimit + usage.limit,
      failcnt: swapEvents.get('max') ?? 0,
    };
    stats.memory = { usage, swap, cache: raw.file ?? 0, raw };
  }
  const pids = await readPids(dir);
  if (pids) stats.pids = pids;
  const ioStat = await read(dir, 'io.stat');
  if (ioStat !== undefined) {
    const bytes: BlkioEntry[] = [];
    const ios: BlkioEntry[] = [];
    for (const { key, fields } of parseNestedKeyed(ioStat)) {
      const match = /^(\d+):(\d+)$/.exec(key);
      if (!match) continue;
      const device = { major: Number(match[1]), minor: Number(match[2]) };
      bytes.push({ ...device, op: 'Read', value: fields.get('rbytes') ?? 0 }, { ...device, op: 'Write', value: fields.get('wbytes') ?? 0 });
      ios.push({ ...device, op: 'Read', value: fields.get('rios') ?? 0 }, { ...device, op: 'Write', value: fields.get('wios') ?? 0 });
    }
    stats.blkio = { ioServiceBytesRecursive: bytes, ioServicedRecursive: ios };
  }
  return stats;
}
