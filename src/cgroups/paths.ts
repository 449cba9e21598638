/**
 * Container cgroup paths (OCI `linux.cgroupsPath`).
 *
 * A path is always taken from the root of each hierarchy: "/berth/abc" and "berth/abc" both
 * mean <hierarchy>/berth/abc, never a place relative to the caller's own cgroup.
 */
import { join } from 'node:path';
import { invalid, describe } from './resources.ts';

/** The path as "berth/abc" (no leading slash), refused when empty, the root itself or escaping with "..". */
export function normalizeCgroupPath(path: string): string {
  const field = 'linux.cgroupsPath';
  if (typeof path !== 'string' || path.includes('\0')) throw invalid(field, `must be a path (got ${describe(path)})`);
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw invalid(field, `must not contain ".." (got ${JSON.stringify(path)})`);
  if (parts.length === 0) {
    throw invalid(field, `must name a cgroup below the root (got ${JSON.stringify(path)})`, 'use a path such as "/berth/<container-id>"');
  }
  return parts.join('/');
}

/** The directory of a cgroup in one hierarchy. */
export function cgroupDir(hierarchyDir: string, relPath: string): string {
  return join(hierarchyDir, relPath);
}

/** "berth/abc/x" → ["berth", "berth/abc", "berth/abc/x"]. */
export function prefixesOf(relPath: string): string[] {
  const parts = relPath.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}
