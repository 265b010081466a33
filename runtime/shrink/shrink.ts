import type { Program } from '../program.ts';
import type { TaskId } from '../../protocol/ids.ts';
import type { DroppedOp } from '../replay-file.ts';
import { ReplayStrategy } from '../strategies/replay.ts';
import { ddmin } from './ddmin.ts';
import { shrinkSchedule, switchesOf } from './schedule.ts';
import { Trials, findSchedule, hintFor } from './search.ts';
import type { Hit, SearchBudget, ShrinkTarget } from './search.ts';

/**
 * Shrinks a finding in two phases. Ops: delta debugging over the scenario's
 * operations, each candidate program given a schedule by `findSchedule`
 * (lenient replays of the last good decisions, then bounded exploration).
 * Schedule: fewer switches and steps on the smallest program (schedule.ts).
 * The program side (which ops there are, what a program without some of
 * them is) comes from the caller, so this knows nothing of kernel programs.
 */

export interface ShrinkInput {
  /** Every scenario op of the full program, in program order. */
  readonly ops: readonly DroppedOp[];
  /** Ops the input replay already leaves out. */
  readonly dropped: readonly DroppedOp[];
  /** The full program less `drop`. */
  readonly programFor: (drop: readonly DroppedOp[]) => Program;
  readonly target: ShrinkTarget;
  /** The input replay's execution (it hit the target). */
  readonly start: Hit;
  readonly budget: SearchBudget;
  /** Executions the schedule phase may spend. */
  readonly scheduleExecutions: number;
  readonly progress: ((line: string) => void) | null;
}

export interface ShrinkResult {
  /** Ops the shrunk program leaves out, in program order. */
  readonly drop: readonly DroppedOp[];
  readonly program: Program;
  readonly hit: Hit;
  readonly opsBefore: number;
  readonly opsAfter: number;
  readonly executions: number;
}

const opKey = (o: DroppedOp): string => `${o.task}\u0000${o.index}`;

export async function shrink(input: ShrinkInput): Promise<ShrinkResult> {
  const counter = { executions: 0 };
  const say = input.progress ?? ((): void => {});
  const gone = new Set(input.dropped.map(opKey));
  const initial = input.ops.filter((o) => !gone.has(opKey(o)));
  const dropFor = (kept: readonly DroppedOp[]): DroppedOp[] => {
    const keep = new Set(kept.map(opKey));
    return input.ops.filter((o) => !keep.has(opKey(o)));
  };

  // Phase 1: ops. A candidate counts only if it takes no more steps than the input did.
  const hits = new Map<string, Hit>();
  let hint = await hintFor(input.programFor(input.dropped), input.target, input.start, counter);
  say(`shrink: ${initial.length} ops, ${input.start.steps} steps, ${switchesOf(input.start.decisions)} context switches`);
  const kept = await ddmin(initial, async (subset) => {
    const found = await findSchedule(input.programFor(dropFor(subset)), input.target, hint, input.budget, counter);
    if (found === null || found.hit.steps > input.start.steps) return false;
    hint = found.hint;
    hits.set(subset.map(opKey).join(','), found.hit);
    return true;
  }, (p) => say(`  ops: ${p.tests} candidates tried, ${p.size} ops left (${counter.executions} executions)`));
  const drop = dropFor(kept);
  const program = input.programFor(drop);
  const afterOps = hits.get(kept.map(opKey).join(',')) ?? input.start;
  say(`  ops: ${initial.length} -> ${kept.length}`);

  // Phase 2: the schedule.
  const hit = await shrinkSchedule(program, input.target, afterOps, {
    maxExecutions: input.scheduleExecutions,
    onProgress: (p) => say(`  schedule: ${p.switches} context switches, ${p.steps} steps (${p.executions} executions)`),
  }, counter);
  say(`  schedule: ${switchesOf(afterOps.decisions)} -> ${switchesOf(hit.decisions)} context switches, ${afterOps.steps} -> ${hit.steps} steps`);
  return { drop, program, hit, opsBefore: initial.length, opsAfter: kept.length, executions: counter.executions };
}

/** A strict replay of `decisions` on `program` from a fresh host: the hit, or null when it does not reproduce. */
export async function replayHit(program: Program, target: ShrinkTarget, decisions: readonly TaskId[]): Promise<Hit | null> {
  const trials = await Trials.open(program, target, { executions: 0 });
  try {
    return (await trials.once(new ReplayStrategy(decisions))).hit;
  } finally {
    await trials.close();
  }
}
