import { readFileSync } from 'node:fs';

/** The calling thread's scheduler times so far (ns): on a CPU, and runnable but waiting for one. */
export interface ThreadSched {
  readonly cpuNs: number;
  readonly waitNs: number;
}

/** Linux's per-thread schedstat ("<on-cpu ns> <runqueue-wait ns> <timeslices>"); null where there is none. */
export function threadSched(): ThreadSched | null {
  try {
    const [cpu, wait] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ').map(Number);
    return cpu !== undefined && wait !== undefined && Number.isFinite(cpu) && Number.isFinite(wait) ? { cpuNs: cpu, waitNs: wait } : null;
  } catch {
    return null;
  }
}
