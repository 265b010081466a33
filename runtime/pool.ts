import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { mergeFound } from './explore.ts';
import type { ExploreResult } from './explore.ts';
import { codeUrl, poolFilename } from './hosts/spawn.ts';
import type { PoolTask } from './pool-task.ts';
import type { ExploringStrategy } from './strategies/index.ts';

/**
 * Strategies whose execution n depends only on the seed and n, so a chunk
 * that starts at schedule s runs what one whole exploration runs from s.
 * PCT is not one: it draws its change points from the longest execution seen
 * so far in the run (runtime/strategies/pct.ts, `end`), so a chunk that has
 * not seen the executions before it picks other change points for the same
 * index; portfolio has PCT members; dfs is one systematic search, not a
 * range of schedules. (`compare` on the pool therefore runs whole rows,
 * api/rows.ts.)
 */
export const CHUNKABLE: ReadonlySet<ExploringStrategy> = new Set<ExploringStrategy>(['random', 'pos']);

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
    if (!CHUNKABLE.has(base.strategy)) {
      throw new Error(`the pool cannot cut a ${base.strategy} exploration into chunks: its schedules depend on the executions before them`);
    }
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
      // chunks of a schedule range: a sample, never a systematic search's whole
      complete: false,
      truncated: parts.reduce((n, p) => n + p.truncated, 0),
    };
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
