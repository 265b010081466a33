import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from './input-error.ts';
import type { Finding, FindingKind } from '../protocol/findings.ts';
import { FINDING_KINDS, canonicalKind, isFindingKind } from '../protocol/findings.ts';
import { inputErrorOf, parseJson } from '../scenarios/format/issues.ts';
import { names } from '../scenarios/format/schema.ts';
import type { TaskId } from '../protocol/ids.ts';

export const REPLAY_FORMAT = 'iommu-lab-replay';
export const REPLAY_VERSION = 1;

/**
 * A replay file: enough to run the same execution again in controlled mode,
 * in either host — the scenario, its variants, the task seed and the
 * decision at every step. A free-mode record is the order that actually
 * happened, in the same form. Described once by ReplayFileSchema (its
 * type is inferred; `iommu-lab schema replay` prints it as JSON Schema).
 *
 * `scenario` is a built-in scenario's name, or the path of the scenario
 * document relative to the replay file itself (so a replay works from any
 * directory and after its directory is moved or merged).
 */
const Dropped = z.strictObject({ task: z.string({ error: 'expected a task id' }).min(1, { error: 'expected a task id' }).max(4096), index: z.int({ error: 'expected an integer >= 0' }).min(0, { error: 'expected an integer >= 0' }) });
export const ReplayFileSchema = z.strictObject({
  $schema: z.string().max(4096).exactOptional(),
  format: z.literal(REPLAY_FORMAT),
  version: z.literal(REPLAY_VERSION),
  scenario: z.string().min(1).max(4096),
  variants: names(z.string().min(1).max(200)),
  seed: z.int(),
  mode: z.enum(['controlled', 'free']),
  strategy: z.string().max(200),
  schedule: z.int(),
  decisions: z.array(z.string({ error: 'expected a task id' }).min(1, { error: 'expected a task id' }).max(4096).transform((s) => s as TaskId)),
  finding: z.strictObject({ kind: z.enum(FINDING_KINDS), title: z.string().max(100_000), signature: z.string().max(100_000) }).nullable(),
  traceHash: z.string().max(200).nullable(),
  /**
   * Operations left out of the scenario's program (a shrunk replay): the task
   * and the op's index in that task's list as the scenario writes it. No
   * field: the whole program.
   */
  drop: z.array(Dropped).exactOptional().superRefine((list, ctx) => {
    const seen = new Set<string>();
    (list ?? []).forEach((d, i) => {
      const key = `${d.task}\u0000${d.index}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: `op ${d.index} of task ${JSON.stringify(d.task.slice(0, 80))} is dropped twice` });
      seen.add(key);
    });
  }),
});

export type ReplayFile = Readonly<Omit<z.output<typeof ReplayFileSchema>, '$schema' | 'finding' | 'decisions' | 'drop' | 'variants'>> & {
  readonly variants: Readonly<Record<string, string>>;
  readonly decisions: readonly TaskId[];
  readonly drop?: readonly DroppedOp[];
  readonly finding: { readonly kind: FindingKind; readonly title: string; readonly signature: string } | null;
};

/** One operation of a scenario task that a replay leaves out. */
export type DroppedOp = Readonly<z.output<typeof Dropped>>;

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

export function parseReplayFile(text: string, file: string): ReplayFile {
  const doc = parseJson(text, file, '(document)');
  const r = ReplayFileSchema.safeParse(doc, { reportInput: true });
  if (!r.success) throw inputErrorOf(r.error, doc, file);
  const { $schema: _s, ...rf } = r.data;
  return rf;
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

/** A scenario reference that names a document file rather than a built-in (scenarios/format/load.ts isScenarioFile). */
function isFileRef(ref: string): boolean {
  return /\.(json|ts|mts|js|mjs)$/.test(ref) || ref.includes('/') || ref.includes(path.sep);
}

/**
 * What a replay file at `replayFile` records as its `scenario`: a built-in
 * scenario's name, or the scenario document's path relative to the replay
 * file itself ("./scenario.json", "../../my.ts"), so the replay works from
 * any directory and after its directory is moved, copied or merged.
 */
export function scenarioRef(replayFile: string, name: string, source?: string): string {
  if (source === undefined) return name;
  const from = path.dirname(path.resolve(replayFile));
  const to = path.resolve(source);
  // sharing nothing but the root (a replay under /tmp of a document in a checkout): the absolute path says it better
  if (from.split(path.sep)[1] !== to.split(path.sep)[1]) return to;
  const rel = path.relative(from, to).split(path.sep).join('/');
  return rel.startsWith('../') ? rel : `./${rel}`;
}

/**
 * The scenario a replay file names, as loadScenario takes it: a relative
 * document path is relative to the replay file. A replay written before
 * paths were (relative to the directory its campaign ran in) still loads
 * when its document is found from the current directory and not beside it.
 */
export function replayScenario(rf: Pick<ReplayFile, 'scenario'>, replayFile: string): string {
  if (!isFileRef(rf.scenario) || path.isAbsolute(rf.scenario)) return rf.scenario;
  const beside = path.resolve(path.dirname(replayFile), rf.scenario);
  if (existsSync(beside) || !existsSync(rf.scenario)) return beside;
  return rf.scenario;
}
