import { runOne } from '../cli/run-one.ts';
import { adoptInterruptFlag } from '../runtime/interrupt.ts';
import type { RunReport, RunSettings } from '../cli/run-one.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { loadScenario } from '../scenarios/index.ts';
import type { VariantAssignment } from '../scenarios/scenario.ts';

/** One row of `compare`, run by a pool worker: a scenario it can load by name or path, one assignment. */
export interface RowTask {
  /** A built-in's name or a scenario file's path (what loadScenario takes). */
  readonly scenario: string;
  readonly variants: VariantAssignment;
  readonly settings: Omit<RunSettings, 'progress' | 'recordings'>;
  /** The main thread's stop flag (runtime/interrupt.ts): SIGINT/SIGTERM end the row after its current execution. */
  readonly stop?: SharedArrayBuffer;
}

export interface RowDone {
  readonly report: RunReport;
  readonly recordings: ReadonlyMap<string, ReplayFile>;
}

/** piscina's task function (api/rows.ts). */
export default async function runRowTask(t: RowTask): Promise<RowDone> {
  if (t.stop !== undefined) adoptInterruptFlag(t.stop);
  const s = await loadScenario(t.scenario);
  const recordings = new Map<string, ReplayFile>();
  const report = await runOne(s, t.variants, { ...t.settings, recordings, progress: null });
  return { report, recordings };
}
