import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { mergeFound } from './explore.ts';
import type { ExploreResult } from './explore.ts';
import { codeUrl, poolFilename } from './hosts/spawn.ts';
import type { PoolTask } from './pool-task.ts';

/**
 * Many independent inline executions in parallel: a piscina pool whose
 * task is "explore schedules [first, first + n) of this program". The
 * schedule range is cut into chunks (a few per thread, for balance) and the
 * findings merge by signature, first sighting winning — the same merge that
 * combines shards run on other machines.
 */
export class ExplorationPool {
  private readonly pool: Piscina;
  readonly threads: number;

  constructor(threads: number) {
    const { filename, workerData } = poolFilename(codeUrl('./pool-task', import.meta.url));
    this.threads = threads;
    this.pool = new Piscina({ filename: fileURLToPath(filename), workerData, minThreads: threads, maxThreads: threads, idleTimeout: 60_000 });
  }

  /** Explores `schedules` executions from `base.firstSchedule`, split across the pool. */
  async explore(base: Omit<PoolTask, 'schedules' | 'firstSchedule'>, firstSchedule: number, schedules: number): Promise<ExploreResult> {
    const t0 = performance.now();
    const chunks = Math.max(1, Math.min(schedules, this.threads * 4));
    const per = Math.ceil(schedules / chunks);
    const runs: Promise<ExploreResult>[] = [];
    for (let start = 0; start < schedules; start += per) {
      const task: PoolTask = { ...base, firstSchedule: firstSchedule + start, schedules: Math.min(per, schedules - start) };
      runs.push(this.pool.run(task) as Promise<ExploreResult>);
    }
    const parts = await Promise.all(runs);
    return {
      executions: parts.reduce((n, p) => n + p.executions, 0),
      steps: parts.reduce((n, p) => n + p.steps, 0),
      elapsedMs: performance.now() - t0,
      findings: mergeFound(parts.map((p) => p.findings)),
      truncated: parts.reduce((n, p) => n + p.truncated, 0),
    };
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
