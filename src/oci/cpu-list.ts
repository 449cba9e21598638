/** CPU lists as the kernel and the OCI spec write them: "0-3,7" (cpuset.cpus, execCPUAffinity). */

/** The CPUs of a list, ascending; undefined when it is not a list (or names a CPU ≥ 1024). */
export function parseCpuList(text: string): number[] | undefined {
  const cpus = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to >= 1024) return undefined;
    for (let cpu = from; cpu <= to; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}
