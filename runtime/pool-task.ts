import { explore } from './explore.ts';
import type { ExploreResult } from './explore.ts';
import { hostFor } from './hosts/guarded.ts';
import { importModule, resolveModule } from './modules.ts';
import type { Checker } from '../checkers/checker.ts';
import type { Program } from './program.ts';
import { makeStrategy } from './strategies/index.ts';
import type { ExploringStrategy } from './strategies/index.ts';

/** How a pool worker gets the program to explore: a module function called with `key`. */
export interface ProgramLoader {
  readonly module: string;
  readonly export: string;
}

export type LoadedProgram = { readonly program: Program; readonly checkers?: () => readonly Checker[] };

/** One chunk of an exploration, run by a pool worker in its own inline host. */
export interface PoolTask {
  readonly loader: ProgramLoader;
  readonly key: unknown;
  readonly strategy: ExploringStrategy;
  readonly seed: number;
  readonly firstSchedule: number;
  readonly schedules: number;
  readonly maxSteps?: number;
  readonly timeMs?: number;
}

/** piscina's task function. */
export default async function runPoolTask(t: PoolTask): Promise<ExploreResult> {
  const mod = await importModule(resolveModule(t.loader.module));
  const load = mod[t.loader.export] as (key: unknown) => LoadedProgram | Promise<LoadedProgram>;
  const { program, checkers } = await load(t.key);
  const host = await hostFor('inline', program);
  try {
    return await explore(host, program, makeStrategy(t.strategy, t.seed), {
      seed: t.seed,
      schedules: t.schedules,
      firstSchedule: t.firstSchedule,
      ...(t.maxSteps !== undefined ? { maxSteps: t.maxSteps } : {}),
      ...(t.timeMs !== undefined ? { timeMs: t.timeMs } : {}),
      ...(checkers !== undefined ? { checkers } : {}),
    });
  } finally {
    await host.close();
  }
}
