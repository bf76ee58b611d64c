import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * The cores this process may keep busy: the CPUs it may run on, and no more than a cgroup v2
 * CPU quota allows (`cpu.max`, e.g. "400000 100000" = 4 cores). In a container with a CPU limit
 * Node's availableParallelism() still counts the node's cores; starting that many nfdump
 * processes or worker threads would only queue them behind the quota.
 */
export function usableCores(cpuMax = '/sys/fs/cgroup/cpu.max'): number {
  const cpus = availableParallelism();
  let text: string;
  try {
    text = readFileSync(cpuMax, 'utf8');
  } catch {
    return cpus;
  }
  const [quota, period] = text.trim().split(/\s+/u);
  const q = Number(quota);
  const p = Number(period ?? 100000);
  if (quota === 'max' || !Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return cpus;
  return Math.max(1, Math.min(cpus, Math.ceil(q / p)));
}
