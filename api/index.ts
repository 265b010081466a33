/**
 * iommu-lab as a library (`import { run } from 'iommu-lab'`): load and
 * validate a scenario, run it, compare its variants, replay a recording,
 * shrink it, explore schedules. Nothing is written to disk unless `out` is
 * given; a finding's recording (the replay document) comes back in the
 * result. The CLI (cli/commands/*) is a thin layer over these functions.
 */
import { defaultCheckers } from '../checkers/index.ts';
import { createHost, resolveVariants, runOne } from '../cli/run-one.ts';
import type { RunFinding, RunReport } from '../cli/run-one.ts';
import { explore as exploreSchedules } from '../runtime/explore.ts';
import type { FoundFinding } from '../runtime/explore.ts';
import type { HostKind } from '../runtime/hosts/host.ts';
import { InputError } from '../runtime/input-error.ts';
import { parseReplayFile, readReplayFile } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import type { ExploringStrategy } from '../runtime/strategies/index.ts';
import { BUILTIN, loadScenario as loadByRef } from '../scenarios/index.ts';
import { scenarioFromDocument } from '../scenarios/format/document.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import { assignments } from '../scenarios/scenario.ts';
import type { FindingKind } from '../protocol/findings.ts';
import { replayRecording } from './replay.ts';
import type { ReplayResult } from './replay.ts';
import { runRows } from './rows.ts';
import type { RowProgress } from './rows.ts';
import { shrinkRecording } from './shrink.ts';
import type { ShrinkResult } from './shrink.ts';

export type { Scenario, VariantAssignment, Expectation } from '../scenarios/scenario.ts';
export type { FindingKind } from '../protocol/findings.ts';
export { FINDING_KINDS } from '../protocol/findings.ts';
export type { ReplayFile } from '../runtime/replay-file.ts';
export type { HostKind } from '../runtime/hosts/host.ts';
export type { ExploringStrategy } from '../runtime/strategies/index.ts';
export type { RunFinding, RunReport } from '../cli/run-one.ts';
export type { ReplayResult } from './replay.ts';
export type { ShrinkResult, ShrinkSize } from './shrink.ts';
export type { RowProgress } from './rows.ts';
export { InputError } from '../runtime/input-error.ts';
export { assignments, expectedFor, variantKey } from '../scenarios/scenario.ts';

/** A scenario as the functions take it: a loaded Scenario, a built-in's name or a file path, or a document object. */
export type ScenarioInput = Scenario | string | ScenarioDocument;

/** A scenario document (docs/scenarios.md; CLI.md "Scenario documents"): checked when it is loaded. */
export interface ScenarioDocument {
  readonly name: string;
  readonly title?: string;
  readonly topology: unknown;
  readonly variants?: Readonly<Record<string, readonly string[]>>;
  readonly tasks?: readonly unknown[];
  readonly processes?: readonly unknown[];
  readonly checkers?: unknown;
  readonly expect?: readonly unknown[];
}

/** The built-in scenarios: name, title and variant axes (what `list` prints). */
export function listScenarios(): { name: string; title: string; variants: Readonly<Record<string, readonly string[]>> }[] {
  return BUILTIN.map((s) => ({ name: s.name, title: s.title, variants: s.variants }));
}

/**
 * A scenario from a built-in's name, a file path (`.json`, `.ts`, `.js`) or a
 * document object. Bad input throws an InputError naming the file (or
 * `source`), the path inside the document and what was expected.
 */
export async function loadScenario(input: ScenarioInput, source = '(document)'): Promise<Scenario> {
  if (typeof input === 'string') return loadByRef(input);
  if (isScenario(input)) return input;
  return scenarioFromDocument(input, source);
}

/** Checks a document without running it: `{ valid: true }`, or the message `run` would exit 2 with. */
export function validateScenario(doc: unknown, source = '(document)'): { valid: true; scenario: Scenario } | { valid: false; error: string; where: string | null } {
  try {
    return { valid: true, scenario: scenarioFromDocument(doc, source) };
  } catch (e) {
    if (e instanceof InputError) return { valid: false, error: e.message, where: e.where };
    throw e;
  }
}

function isScenario(x: object): x is Scenario {
  return typeof (x as Partial<Scenario>).program === 'function';
}

/** One finding of a run, with its recording: `replay(finding.recording)` reproduces it. */
export interface Finding extends RunFinding {
  readonly recording: ReplayFile;
}

/** A run's result: the run object of CLI.md, each finding with its recording. */
export interface RunResult extends Omit<RunReport, 'findings'> {
  readonly findings: readonly Finding[];
}

export interface RunOptions {
  /** Axis → value; unset axes take their first value. */
  readonly variants?: VariantAssignment;
  readonly host?: HostKind;
  readonly mode?: 'controlled' | 'free';
  readonly strategy?: ExploringStrategy;
  /** Schedules to explore (default 1000; free mode 5). */
  readonly schedules?: number;
  readonly timeMs?: number;
  readonly seed?: number;
  /** Free mode: a hang is reported after this long without progress. */
  readonly hangMs?: number;
  /** Write each finding's replay file and report under this directory (default: write nothing). */
  readonly out?: string;
  /** Progress lines (found X, N schedules done). */
  readonly onProgress?: (line: string) => void;
}

/** The scenario each result was run on: the vitest matchers' toReplay() replays against it. */
const scenarioOf = new WeakMap<object, Scenario>();

/** The scenario a run or compare result came from (for replaying its findings). */
export function resultScenario(r: object): Scenario | undefined {
  return scenarioOf.get(r);
}

function withRecordings(report: RunReport, recordings: ReadonlyMap<string, ReplayFile>, s: Scenario): RunResult {
  const findings = report.findings.map((f) => {
    const recording = recordings.get(f.signature);
    if (recording === undefined) throw new Error(`no recording for ${f.signature}`);
    return { ...f, recording };
  });
  const r: RunResult = { ...report, findings };
  scenarioOf.set(r, s);
  return r;
}

/** Explores one scenario under one variant assignment (controlled mode), or runs it in free mode. */
export async function run(scenario: ScenarioInput, opts: RunOptions = {}): Promise<RunResult> {
  const s = await loadScenario(scenario);
  const mode = opts.mode ?? 'controlled';
  const recordings = new Map<string, ReplayFile>();
  const report = await runOne(s, resolveVariants(s, opts.variants ?? {}, 'variants'), {
    host: opts.host ?? (mode === 'free' ? 'workers' : 'inline'),
    mode,
    strategy: opts.strategy ?? 'portfolio',
    schedules: opts.schedules ?? (mode === 'free' ? 5 : 1000),
    ...(opts.timeMs !== undefined ? { timeMs: opts.timeMs } : {}),
    seed: opts.seed ?? 1,
    ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
    out: opts.out ?? null,
    recordings,
    progress: opts.onProgress ?? null,
  });
  return withRecordings(report, recordings, s);
}

export interface CompareOptions {
  readonly host?: HostKind;
  /** Schedules per row (default 1000). */
  readonly schedules?: number;
  readonly seed?: number;
  readonly out?: string;
  /** Rows at once on worker threads (default: the cores; 1 runs them in turn). */
  readonly threads?: number;
  readonly onRow?: (p: RowProgress) => void;
}

export interface CompareResult {
  /** One run per scenario × variant assignment, in `assignments` order. */
  readonly rows: readonly RunResult[];
  /** Every row matched its expectation. */
  readonly matched: boolean;
}

/** Every variant assignment of the scenarios (`'all'`: every built-in), one run each. */
export async function compare(scenarios: ScenarioInput | readonly ScenarioInput[] | 'all', opts: CompareOptions = {}): Promise<CompareResult> {
  const list = scenarios === 'all' ? BUILTIN : await Promise.all((Array.isArray(scenarios) ? scenarios : [scenarios]).map((x: ScenarioInput) => loadScenario(x)));
  const rows = list.flatMap((scenario) => assignments(scenario).map((variants) => ({ scenario, variants })));
  const done = await runRows(rows, {
    host: opts.host ?? 'inline', mode: 'controlled', strategy: 'portfolio',
    schedules: opts.schedules ?? 1000, seed: opts.seed ?? 1, out: opts.out ?? null, progress: null,
  }, { ...(opts.threads !== undefined ? { threads: opts.threads } : {}), ...(opts.onRow !== undefined ? { onRow: opts.onRow } : {}) });
  const results = done.map((d, i) => withRecordings(d.report, d.recordings, (rows[i] as { scenario: Scenario }).scenario));
  const r: CompareResult = { rows: results, matched: results.every((x) => x.matched) };
  return r;
}

export interface ReplayOptions {
  readonly host?: HostKind;
  /** The scenario the recording was made on, when its `scenario` field is neither a built-in nor a file (a document built in memory). */
  readonly scenario?: ScenarioInput;
}

/** A recording as the functions take it: the document, a finding of a run (its recording), or a replay file's path. */
export type RecordingInput = ReplayFile | Finding | string;

function recordingOf(x: RecordingInput): { rf: ReplayFile; file?: string } {
  if (typeof x === 'string') return { rf: readReplayFile(x), file: x };
  if ('recording' in x) return { rf: x.recording };
  // a document from elsewhere (JSON.parse of a file): checked as a file would be
  return { rf: parseReplayFile(JSON.stringify(x), '(recording)') };
}

/** Runs a recording once in controlled mode: did it hit the recorded finding? */
export async function replay(recording: RecordingInput, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const { rf, file } = recordingOf(recording);
  return replayRecording(rf, {
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.scenario !== undefined ? { scenario: await loadScenario(opts.scenario) } : {}),
    ...(file !== undefined ? { file } : {}),
  });
}

export interface ShrinkOptions {
  /** Exploration per candidate program (default 150). */
  readonly schedules?: number;
  readonly scenario?: ScenarioInput;
  readonly onProgress?: (line: string) => void;
}

/** Fewer ops and context switches for a recording's finding; the shrunk recording replays exactly. */
export async function shrink(recording: RecordingInput, opts: ShrinkOptions = {}): Promise<ShrinkResult> {
  const { rf, file } = recordingOf(recording);
  return shrinkRecording(rf, {
    ...(opts.schedules !== undefined ? { schedules: opts.schedules } : {}),
    ...(opts.scenario !== undefined ? { scenario: await loadScenario(opts.scenario) } : {}),
    ...(file !== undefined ? { file } : {}),
    progress: opts.onProgress ?? null,
  });
}

export interface ExploreOptions {
  readonly variants?: VariantAssignment;
  readonly strategy?: ExploringStrategy;
  readonly seed?: number;
  readonly schedules?: number;
  /** The first schedule's index (a shard starts later). */
  readonly firstSchedule?: number;
  readonly timeMs?: number;
  readonly host?: HostKind;
  /** Called once per new finding signature, as soon as it is found. */
  readonly onFinding?: (f: ExploredFinding) => void;
}

/** A finding as exploration keeps it: first schedule, count, and the decisions that reproduce it. */
export interface ExploredFinding {
  readonly kind: FindingKind;
  readonly title: string;
  readonly signature: string;
  readonly report: string;
  readonly firstSchedule: number;
  readonly count: number;
  readonly seed: number;
  readonly decisions: readonly string[];
  readonly traceHash: string | null;
}

export interface ExploreResult {
  readonly executions: number;
  readonly steps: number;
  readonly elapsedMs: number;
  readonly findings: readonly ExploredFinding[];
}

const explored = (f: FoundFinding): ExploredFinding => ({
  kind: f.finding.kind, title: f.finding.title, signature: f.finding.signature, report: f.finding.report,
  firstSchedule: f.firstSchedule, count: f.count, seed: f.seed, decisions: f.decisions, traceHash: f.traceHash,
});

/** The schedule level under `run`: explore schedules of one assignment, no expectation matched, nothing written. */
export async function explore(scenario: ScenarioInput, opts: ExploreOptions = {}): Promise<ExploreResult> {
  const s = await loadScenario(scenario);
  const program = s.program(resolveVariants(s, opts.variants ?? {}, 'variants'));
  const host = await createHost(opts.host ?? 'inline', program);
  const seed = opts.seed ?? 1;
  const schedules = opts.schedules ?? 1000;
  try {
    const r = await exploreSchedules(host, program, makeStrategy(opts.strategy ?? 'portfolio', seed, { budget: schedules }), {
      seed, schedules, checkers: s.checkers ?? defaultCheckers,
      ...(opts.firstSchedule !== undefined ? { firstSchedule: opts.firstSchedule } : {}),
      ...(opts.timeMs !== undefined ? { timeMs: opts.timeMs } : {}),
      ...(opts.onFinding !== undefined ? { onFinding: (f: FoundFinding) => opts.onFinding?.(explored(f)) } : {}),
    });
    return { executions: r.executions, steps: r.steps, elapsedMs: r.elapsedMs, findings: r.findings.map(explored) };
  } finally {
    await host.close();
  }
}
