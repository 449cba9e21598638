import { arrayOf, fail, item, object, required, uint32, userId } from './field-checks.ts';
import type { IdMapping } from './types.ts';

/** Most lines a uid_map/gid_map may hold (Linux 4.15+). */
export const MAX_ID_MAPPINGS = 340;

/** The kernel never maps (uid_t)-1: a range may reach 4294967294 at most. */
const ID_SPACE = 2 ** 32 - 1;

function idMapping(value: unknown, path: string): IdMapping {
  const obj = object(value, path);
  const containerID = required(obj, 'containerID', path, userId);
  const hostID = required(obj, 'hostID', path, userId);
  const size = required(obj, 'size', path, uint32);
  if (size === 0) fail(`${path}.size`, 'must be at least 1 (a mapping of 0 ids maps nothing)');
  if (containerID + size > ID_SPACE) fail(path, `container range ${range(containerID, size)} runs past id 4294967294`);
  if (hostID + size > ID_SPACE) fail(path, `host range ${range(hostID, size)} runs past id 4294967294`);
  return obj as unknown as IdMapping;
}

const range = (start: number, size: number) => `${start}-${start + size - 1}`;

/**
 * uid or gid mappings as the kernel accepts them in /proc/<pid>/{uid,gid}_map: each size ≥ 1,
 * no two container ranges overlapping and no two host ranges overlapping, at most 340 lines.
 */
export function idMappings(value: unknown, path: string): IdMapping[] {
  const mappings = arrayOf(idMapping)(value, path);
  if (mappings.length > MAX_ID_MAPPINGS) {
    fail(path, `has ${mappings.length} entries; the kernel accepts at most ${MAX_ID_MAPPINGS}`);
  }
  for (let i = 0; i < mappings.length; i++) {
    const a = mappings[i] as IdMapping;
    for (let j = 0; j < i; j++) {
      const b = mappings[j] as IdMapping;
      if (overlaps(a.containerID, a.size, b.containerID, b.size)) {
        fail(
          item(path, i),
          `container range ${range(a.containerID, a.size)} overlaps ${item(path, j)} (${range(b.containerID, b.size)})`,
        );
      }
      if (overlaps(a.hostID, a.size, b.hostID, b.size)) {
        fail(item(path, i), `host range ${range(a.hostID, a.size)} overlaps ${item(path, j)} (${range(b.hostID, b.size)})`);
      }
    }
  }
  return mappings;
}

function overlaps(startA: number, sizeA: number, startB: number, sizeB: number): boolean {
  return startA < startB + sizeB && startB < startA + sizeA;
}
