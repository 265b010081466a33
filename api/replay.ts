import { defaultCheckers } from '../checkers/index.ts';
import { createHost, matches, resolveVariants } from '../cli/run-one.ts';
import type { RunReport } from '../cli/run-one.ts';
import { runExecution } from '../runtime/execution.ts';
import type { HostKind } from '../runtime/hosts/host.ts';
import { sameFailure } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import { loadReplayScenario, loadScenario } from '../scenarios/index.ts';
import { replayProgram } from '../scenarios/kernel/reduce.ts';
import type { Scenario } from '../scenarios/scenario.ts';
import { expectedFor } from '../scenarios/scenario.ts';

/** The result of replaying a recording: a run object (CLI.md) plus whether it hit the recorded finding. */
export interface ReplayResult extends Omit<RunReport, 'lockStats'> {
  /** The replay hit the recorded finding's signature (or, recording none, found nothing). */
  readonly reproduced: boolean;
  /** Where the run left the recorded decisions, or null when it followed them to the end. */
  readonly divergence: string | null;
  readonly setupSteps: number;
  readonly traceHash: string;
}

export interface ReplayOptions {
  readonly host?: HostKind;
  /** The scenario the recording was made on, when it is not a built-in or a file (a document built in memory). */
  readonly scenario?: Scenario;
  /** The replay file the recording was read from: error messages name it, and a relative scenario path is looked up beside it. */
  readonly file?: string;
}

/** The scenario a recording names: a built-in, or a document path (resolved against the replay file: scenarios/index.ts loadReplayScenario). */
export async function scenarioOfRecording(rf: ReplayFile, file?: string): Promise<Scenario> {
  return file !== undefined ? loadReplayScenario(rf, file) : loadScenario(rf.scenario);
}

/** Runs a recording once in controlled mode, following its decisions, and says whether it hit the recorded finding. */
export async function replayRecording(rf: ReplayFile, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const where = opts.file ?? 'the replay';
  const s = opts.scenario ?? (await scenarioOfRecording(rf, opts.file));
  const variants = resolveVariants(s, rf.variants, `${where}: variants`);
  const program = replayProgram(s, variants, rf, where);
  const hostKind = opts.host ?? 'inline';
  const host = await createHost(hostKind, program);
  const t0 = performance.now();
  let r;
  try {
    r = await runExecution(host, program, new ReplayStrategy(rf.decisions), {
      seed: rf.seed,
      checkers: s.checkers !== undefined ? s.checkers(variants) : defaultCheckers(),
      // a free-mode record is the order of a run where every task started at once
      setupPhase: rf.mode !== 'free',
      // the recorded steps, then the usual limit, counted after the set-up: a stress machine's
      // boot is the set-up (325,779 steps at 4,096 devices), and it alone was past the default 100,000
      maxSteps: rf.decisions.length + 100_000,
      limitAfterSetup: true,
    });
  } finally {
    await host.close();
  }
  const recorded = rf.finding?.signature ?? null;
  const reproduced = recorded === null ? r.findings.length === 0 : r.findings.some((f) => sameFailure(recorded, f.signature));
  const expected = expectedFor(s, variants);
  return {
    scenario: s.name, variants, host: hostKind, mode: 'controlled', strategy: 'replay', seed: rf.seed,
    schedules: 1, steps: r.steps, setupSteps: r.setupSteps, elapsedMs: Math.round(performance.now() - t0), expected,
    matched: matches(expected, r.findings.map((f) => f.kind)), reproduced, divergence: r.divergence, truncated: r.outcome === 'step-limit' ? 1 : 0,
    traceHash: r.traceHash,
    findings: r.findings.map((f) => ({ kind: f.kind, title: f.title, signature: f.signature, firstSchedule: 0, count: 1, replay: opts.file ?? '', report: f.report })),
    // one recorded schedule: no known-list verdict, no baseline, a sample of one
    known: [], strict: false, added: [], removed: [], claim: { kind: 'sampled', schedules: 1 },
  };
}
