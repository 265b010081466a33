import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { runOne } from '../cli/run-one.ts';
import type { RunSettings } from '../cli/run-one.ts';
import { codeUrl, poolFilename } from '../runtime/hosts/spawn.ts';
import { interruptFlag } from '../runtime/interrupt.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { BUILTIN } from '../scenarios/index.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import { variantKey } from '../scenarios/scenario.ts';
import type { RowDone, RowTask } from './row-task.ts';

/** One row to run: a scenario under one variant assignment. */
export interface Row {
  readonly scenario: Scenario;
  readonly variants: VariantAssignment;
}

/** What `[i/N]` progress says when a row is done. */
export interface RowProgress {
  readonly done: number;
  readonly total: number;
  readonly row: RowDone['report'];
  readonly elapsedMs: number;
  /** Time left at the rate so far (null until a row is done). */
  readonly remainingMs: number | null;
}

export interface RowsOptions {
  /** Worker threads for rows (default: the machine's cores); 1 runs them one after another here. */
  readonly threads?: number;
  readonly onRow?: (p: RowProgress) => void;
  /** Checked before each row starts (SIGINT): true leaves the rest unstarted; the result has the rows that ran, in order. */
  readonly shouldStop?: () => boolean;
}

/**
 * The name a pool worker loads a scenario by: a built-in's name, or the file
 * a document came from. A scenario built in memory has neither; its rows run
 * in this thread.
 */
function poolRef(s: Scenario): string | null {
  if (s.source !== undefined) return s.source;
  return BUILTIN.includes(s) ? s.name : null;
}

/**
 * Runs rows — on a piscina pool of worker threads when there is more than
 * one core, each row in a worker's own inline host. A row is one seeded
 * exploration, so it gives the same report wherever it runs (elapsed times
 * aside); results come back in the rows' order.
 */
export async function runRows(rows: readonly Row[], settings: Omit<RunSettings, 'recordings'>, opts: RowsOptions = {}): Promise<RowDone[]> {
  const t0 = performance.now();
  const threads = Math.max(1, Math.min(opts.threads ?? os.availableParallelism(), rows.length));
  let done = 0;
  const finished = (d: RowDone): RowDone => {
    done++;
    const elapsedMs = performance.now() - t0;
    opts.onRow?.({ done, total: rows.length, row: d.report, elapsedMs, remainingMs: (elapsedMs / done) * (rows.length - done) });
    return d;
  };
  // free mode and the workers host start threads of their own per row: those stay serial
  const pooled = threads > 1 && settings.mode === 'controlled' && settings.host === 'inline';
  if (!pooled) {
    const out: RowDone[] = [];
    for (const r of rows) {
      if (opts.shouldStop?.() === true) break;
      const recordings = new Map<string, ReplayFile>();
      const report = await runOne(r.scenario, r.variants, { ...settings, recordings });
      out.push(finished({ report, recordings }));
    }
    return out;
  }
  const { filename, workerData } = poolFilename(codeUrl('./row-task', import.meta.url));
  const pool = new Piscina({ filename: fileURLToPath(filename), workerData, minThreads: threads, maxThreads: threads, idleTimeout: 1000 });
  const { progress, ...plain } = settings;
  const results: (RowDone | undefined)[] = rows.map(() => undefined);
  let next = 0;
  const one = async (r: Row): Promise<RowDone> => {
    const ref = poolRef(r.scenario);
      if (ref === null) {
        const recordings = new Map<string, ReplayFile>();
        return finished({ report: await runOne(r.scenario, r.variants, { ...plain, progress: null, recordings }), recordings });
      }
      const task: RowTask = { scenario: ref, variants: r.variants, settings: plain, stop: interruptFlag() };
      const d = (await pool.run(task)) as RowDone;
      for (const f of d.report.findings) progress?.(`  ${r.scenario.name} [${variantKey(r.variants)}]: found ${f.title} (schedule ${f.firstSchedule})`);
      return finished(d);
  };
  // `threads` rows in flight; each finished one starts the next, unless told to stop
  const lane = async (): Promise<void> => {
    while (next < rows.length && opts.shouldStop?.() !== true) {
      const i = next++;
      results[i] = await one(rows[i] as Row);
    }
  };
  try {
    await Promise.all(Array.from({ length: threads }, lane));
    return results.filter((d): d is RowDone => d !== undefined);
  } finally {
    await pool.destroy();
  }
}
