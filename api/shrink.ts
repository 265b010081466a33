import { defaultCheckers } from '../checkers/index.ts';
import { resolveVariants } from '../cli/run-one.ts';
import { InputError } from '../runtime/input-error.ts';
import { REPLAY_FORMAT, REPLAY_VERSION, replayOf } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { explorersFor } from '../runtime/shrink/search.ts';
import type { ShrinkTarget } from '../runtime/shrink/search.ts';
import { switchesOf } from '../runtime/shrink/schedule.ts';
import { replayHit, shrink as shrinkFinding } from '../runtime/shrink/shrink.ts';
import { programOps, reduceProgram, replayProgram } from '../scenarios/kernel/reduce.ts';
import type { Scenario } from '../scenarios/scenario.ts';
import { scenarioOfRecording } from './replay.ts';

/** Executions the schedule phase may spend (deterministic: a count, never a time). */
const SCHEDULE_EXECUTIONS = 300;

export interface ShrinkOptions {
  /** Exploration per candidate program (default 150). */
  readonly schedules?: number;
  /** The scenario the recording was made on, when it is not a built-in or a file. */
  readonly scenario?: Scenario;
  /** The replay file the recording was read from (messages name it; a relative scenario path is looked up beside it). */
  readonly file?: string;
  readonly progress?: ((line: string) => void) | null;
}

/** Sizes of the input and the shrunk recording. */
export interface ShrinkSize {
  readonly ops: number;
  readonly steps: number | null;
  readonly switches?: number;
}

export type ShrinkResult =
  | { readonly reproduced: false; readonly before: ShrinkSize; readonly signature: string }
  | {
    readonly reproduced: true;
    readonly before: ShrinkSize;
    readonly after: ShrinkSize;
    readonly signature: string;
    /** The shrunk recording: `replay` reproduces it exactly. */
    readonly recording: ReplayFile;
    readonly executions: number;
    readonly elapsedMs: number;
  };

/**
 * Shrinks a recording's finding: fewer scenario ops (delta debugging), then a
 * schedule with fewer context switches and steps; the result replays exactly.
 */
export async function shrinkRecording(rf: ReplayFile, opts: ShrinkOptions = {}): Promise<ShrinkResult> {
  const where = opts.file ?? 'the replay';
  if (rf.finding === null) throw new InputError('the replay records no finding: nothing to shrink', opts.file ?? null, 'finding');
  const s = opts.scenario ?? (await scenarioOfRecording(rf, opts.file));
  const variants = resolveVariants(s, rf.variants, `${where}: variants`);
  const full = s.program(variants);
  const input = replayProgram(s, variants, rf, where);
  const target: ShrinkTarget = { signature: rf.finding.signature, seed: rf.seed, checkers: () => (s.checkers !== undefined ? s.checkers(variants) : defaultCheckers()) };
  const t0 = performance.now();

  const start = await replayHit(input, target, rf.decisions);
  const opsBefore = programOps(input).length;
  if (start === null) return { reproduced: false, before: { ops: opsBefore, steps: null }, signature: rf.finding.signature };

  const r = await shrinkFinding({
    ops: programOps(full), dropped: rf.drop ?? [], programFor: (drop) => reduceProgram(full, drop, where), target, start,
    budget: { schedules: opts.schedules ?? 150, explorers: explorersFor(rf.strategy, rf.seed, rf.schedule) },
    scheduleExecutions: SCHEDULE_EXECUTIONS, progress: opts.progress ?? null,
  });
  // What `replay` will do with the file: a strict replay from a fresh host.
  const check = await replayHit(r.program, target, r.hit.decisions);
  if (check === null || check.traceHash !== r.hit.traceHash) throw new Error('the shrunk schedule does not replay exactly');

  const recording: ReplayFile = {
    format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: rf.scenario, variants: rf.variants, seed: rf.seed,
    mode: 'controlled', strategy: 'shrink', schedule: rf.schedule, decisions: r.hit.decisions,
    finding: replayOf(r.hit.finding), traceHash: r.hit.traceHash,
    ...(r.drop.length > 0 ? { drop: r.drop } : {}),
  };
  return {
    reproduced: true,
    before: { ops: opsBefore, steps: start.steps, switches: switchesOf(start.decisions) },
    after: { ops: r.opsAfter, steps: r.hit.steps, switches: switchesOf(r.hit.decisions) },
    signature: r.hit.finding.signature, recording, executions: r.executions, elapsedMs: Math.round(performance.now() - t0),
  };
}
