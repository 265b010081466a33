import { readFileSync } from 'node:fs';
import { InputError } from './input-error.ts';
import type { Finding, FindingKind } from '../protocol/findings.ts';
import { canonicalKind, isFindingKind } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';

export const REPLAY_FORMAT = 'iommu-lab-replay';
export const REPLAY_VERSION = 1;

/**
 * A replay file: enough to run the same execution again in controlled mode,
 * in either host — the scenario, its variants, the task seed and the
 * decision at every step. A free-mode record is the order that actually
 * happened, in the same form.
 */
export interface ReplayFile {
  readonly format: typeof REPLAY_FORMAT;
  readonly version: typeof REPLAY_VERSION;
  readonly scenario: string;
  readonly variants: Readonly<Record<string, string>>;
  readonly seed: number;
  readonly mode: 'controlled' | 'free';
  readonly strategy: string;
  readonly schedule: number;
  readonly decisions: readonly TaskId[];
  readonly finding: { readonly kind: FindingKind; readonly title: string; readonly signature: string } | null;
  readonly traceHash: string | null;
  /**
   * Operations left out of the scenario's program (a shrunk replay): the task
   * and the op's index in that task's list as the scenario writes it. No
   * field: the whole program.
   */
  readonly drop?: readonly DroppedOp[];
}

/** One operation of a scenario task that a replay leaves out. */
export interface DroppedOp {
  readonly task: string;
  readonly index: number;
}

export function replayOf(f: Finding | null): ReplayFile['finding'] {
  return f === null ? null : { kind: f.kind, title: f.title, signature: f.signature };
}

/** Whether a replayed finding is the recorded one (signatures start with the kind; see canonicalKind). */
export function sameFailure(recorded: string, observed: string): boolean {
  const norm = (s: string): string => {
    const bar = s.indexOf('|');
    const kind = bar < 0 ? s : s.slice(0, bar);
    return isFindingKind(kind) ? canonicalKind(kind) + s.slice(kind.length) : s;
  };
  return norm(recorded) === norm(observed);
}

function fail(file: string, where: string, what: string): never {
  throw new InputError(what, file, where);
}

export function parseReplayFile(text: string, file: string): ReplayFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    fail(file, '(document)', `not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(file, '(document)', 'expected a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== REPLAY_FORMAT) fail(file, 'format', `expected "${REPLAY_FORMAT}"`);
  if (d.version !== REPLAY_VERSION) fail(file, 'version', `expected ${REPLAY_VERSION}`);
  if (typeof d.scenario !== 'string' || d.scenario === '') fail(file, 'scenario', 'expected a scenario name or path');
  if (typeof d.variants !== 'object' || d.variants === null || Array.isArray(d.variants)) fail(file, 'variants', 'expected an object of axis: value');
  for (const [k, v] of Object.entries(d.variants)) if (typeof v !== 'string') fail(file, `variants.${k}`, 'expected a string');
  if (typeof d.seed !== 'number' || !Number.isInteger(d.seed)) fail(file, 'seed', 'expected an integer');
  if (d.mode !== 'controlled' && d.mode !== 'free') fail(file, 'mode', 'expected "controlled" or "free"');
  if (typeof d.strategy !== 'string') fail(file, 'strategy', 'expected a string');
  if (typeof d.schedule !== 'number' || !Number.isInteger(d.schedule)) fail(file, 'schedule', 'expected an integer');
  if (!Array.isArray(d.decisions)) fail(file, 'decisions', 'expected an array of task ids');
  d.decisions.forEach((t, i) => {
    if (typeof t !== 'string' || t === '') fail(file, `decisions[${i}]`, 'expected a task id');
  });
  if (d.finding !== null) {
    if (typeof d.finding !== 'object' || d.finding === undefined) fail(file, 'finding', 'expected an object or null');
    const f = d.finding as Record<string, unknown>;
    if (typeof f.kind !== 'string' || !isFindingKind(f.kind)) fail(file, 'finding.kind', 'expected a finding kind');
    if (typeof f.signature !== 'string') fail(file, 'finding.signature', 'expected a string');
    if (typeof f.title !== 'string') fail(file, 'finding.title', 'expected a string');
  }
  if (d.traceHash !== null && typeof d.traceHash !== 'string') fail(file, 'traceHash', 'expected a string or null');
  if (d.drop !== undefined) checkDrop(d.drop, file);
  return d as unknown as ReplayFile;
}

/** `drop`: an array of distinct {task, index}; whether they name real ops is checked against the program (scenarios/kernel/reduce.ts). */
function checkDrop(v: unknown, file: string): void {
  if (!Array.isArray(v)) fail(file, 'drop', 'expected an array of {"task", "index"}');
  const seen = new Set<string>();
  v.forEach((e: unknown, i) => {
    const w = `drop[${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) fail(file, w, 'expected an object {"task", "index"}');
    const o = e as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'task' && k !== 'index') fail(file, `${w}.${k}`, `unknown key "${k}" (expected task, index)`);
    if (typeof o.task !== 'string' || o.task === '') fail(file, `${w}.task`, 'expected a task id');
    if (typeof o.index !== 'number' || !Number.isInteger(o.index) || o.index < 0) fail(file, `${w}.index`, 'expected an integer >= 0');
    const key = `${o.task}\u0000${o.index}`;
    if (seen.has(key)) fail(file, w, `op ${o.index} of task "${o.task}" is dropped twice`);
    seen.add(key);
  });
}

export function readReplayFile(file: string): ReplayFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read: ${e instanceof Error ? e.message : String(e)}`, file);
  }
  return parseReplayFile(text, file);
}
