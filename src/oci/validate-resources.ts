import {
  arrayOf,
  boolean,
  entry,
  fail,
  int64,
  integer,
  object,
  oneOf,
  optional,
  required,
  string,
  stringMap,
  uint16,
  uint32,
  uint64,
  type Json,
} from './field-checks.ts';
import type { Resources } from './types.ts';

/** Check `linux.resources` (shapes and ranges; what the host's cgroups accept is checked where they are written). */
export function checkResources(value: unknown, path: string): Resources {
  const res = object(value, path);
  optional(res, 'devices', path, arrayOf(deviceRule));
  optional(res, 'memory', path, memory);
  optional(res, 'cpu', path, cpu);
  optional(res, 'blockIO', path, blockIo);
  optional(res, 'hugepageLimits', path, arrayOf(hugepageLimit));
  optional(res, 'network', path, network);
  optional(res, 'pids', path, pids);
  optional(res, 'rdma', path, rdma);
  optional(res, 'unified', path, stringMap);
  return res as Resources;
}

function deviceRule(value: unknown, path: string): Json {
  const rule = object(value, path);
  required(rule, 'allow', path, boolean);
  optional(rule, 'type', path, oneOf(['a', 'c', 'b'], 'device cgroup type'));
  optional(rule, 'major', path, int64);
  optional(rule, 'minor', path, int64);
  optional(rule, 'access', path, (v, p) => {
    const access = string(v, p);
    if (!/^[rwma]*$/.test(access)) fail(p, `${JSON.stringify(access)} is not made of r, w and m`);
    return access;
  });
  return rule;
}

function memory(value: unknown, path: string): Json {
  const mem = object(value, path);
  for (const key of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP']) optional(mem, key, path, int64);
  optional(mem, 'swappiness', path, integer(0, 100, 'a swappiness'));
  for (const key of ['disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate']) optional(mem, key, path, boolean);
  return mem;
}

function cpu(value: unknown, path: string): Json {
  const c = object(value, path);
  for (const key of ['shares', 'period', 'realtimePeriod', 'burst']) optional(c, key, path, uint64);
  for (const key of ['quota', 'realtimeRuntime', 'idle']) optional(c, key, path, int64);
  optional(c, 'cpus', path, string);
  optional(c, 'mems', path, string);
  return c;
}

function blockDevice(value: unknown, path: string): Json {
  const dev = object(value, path);
  required(dev, 'major', path, int64);
  required(dev, 'minor', path, int64);
  return dev;
}

function weightDevice(value: unknown, path: string): Json {
  const dev = blockDevice(value, path);
  const weight = optional(dev, 'weight', path, uint16);
  const leafWeight = optional(dev, 'leafWeight', path, uint16);
  if (weight === undefined && leafWeight === undefined) fail(path, 'needs "weight" or "leafWeight"');
  return dev;
}

function throttleDevice(value: unknown, path: string): Json {
  const dev = blockDevice(value, path);
  required(dev, 'rate', path, uint64);
  return dev;
}

function blockIo(value: unknown, path: string): Json {
  const io = object(value, path);
  optional(io, 'weight', path, uint16);
  optional(io, 'leafWeight', path, uint16);
  optional(io, 'weightDevice', path, arrayOf(weightDevice));
  for (const key of ['throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice']) {
    optional(io, key, path, arrayOf(throttleDevice));
  }
  return io;
}

function hugepageLimit(value: unknown, path: string): Json {
  const limit = object(value, path);
  required(limit, 'pageSize', path, (v, p) => {
    const size = string(v, p);
    if (!/^\d+[KMG]B$/.test(size)) fail(p, `${JSON.stringify(size)} is not a page size like "2MB" or "1GB"`);
    return size;
  });
  required(limit, 'limit', path, uint64);
  return limit;
}

function network(value: unknown, path: string): Json {
  const net = object(value, path);
  optional(net, 'classID', path, uint32);
  optional(
    net,
    'priorities',
    path,
    arrayOf((v, p) => {
      const prio = object(v, p);
      required(prio, 'name', p, string);
      required(prio, 'priority', p, uint32);
      return prio;
    }),
  );
  return net;
}

function pids(value: unknown, path: string): Json {
  const p = object(value, path);
  required(p, 'limit', path, int64);
  return p;
}

function rdma(value: unknown, path: string): Json {
  const devices = object(value, path);
  for (const [name, limit] of Object.entries(devices)) {
    const at = entry(path, name);
    const l = object(limit, at);
    optional(l, 'hcaHandles', at, uint32);
    optional(l, 'hcaObjects', at, uint32);
  }
  return devices;
}
