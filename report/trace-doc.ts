import { z } from 'zod';
import type { TraceEntry } from '../runtime/execution.ts';
import { EVENT_NAMES } from '../protocol/events.ts';
import type { EventName, LockKind } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { FINDING_KINDS } from '../protocol/findings.ts';
import { inputErrorOf } from '../scenarios/format/issues.ts';
import { names } from '../scenarios/format/schema.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';

export const TRACE_FORMAT = 'iommu-lab-trace';
export const TRACE_VERSION = 1;

/** A finding plus the step after which the run reported it. */
export interface TraceFinding extends Finding {
  /** Trace step index (`TraceEntry.i`); the last step for findings made at the end of the run (deadlock, leaks). */
  readonly step: number;
}

/** One lock class lockdep saw, with its kind (completions are drawn differently). */
export interface LockGraphClass {
  readonly key: string;
  readonly kind: LockKind;
}

/** One dependency "held `from` when acquiring `to`", with where it was first seen. */
export interface LockGraphEdge {
  readonly from: string;
  readonly to: string;
  /** lockdep dependency types (EN, ER, SN, SR). */
  readonly types: readonly string[];
  /** `known`: preloaded kernel order, not seen in this run. */
  readonly via: 'lock' | 'complete' | 'known';
  readonly task: string | null;
  readonly step: number;
  /** The innermost model frame of the acquisition ("app:take_two"), or the kernel function of a known edge. */
  readonly site: string;
  /** The edge is in the kernel's canonical order that lockdep was preloaded with (docs/kernel-facts.md §1.2). */
  readonly kernelOrder: boolean;
}

/** A cycle lockdep reported: the new edge plus the existing path it closed. */
export interface LockGraphCycle {
  readonly signature: string;
  readonly classes: readonly string[];
  readonly edges: readonly { readonly from: string; readonly to: string }[];
}

export interface LockGraph {
  readonly classes: readonly LockGraphClass[];
  readonly edges: readonly LockGraphEdge[];
  readonly cycles: readonly LockGraphCycle[];
}

/**
 * A recorded run, saved once and rendered many times (`report --format
 * trace` writes it; every `report` format reads it). It holds what the
 * printers need and nothing that needs the program again: the full step
 * trace with every event, the findings with the step they were reported
 * at, and lockdep's class graph.
 */
export interface TraceDocument {
  readonly format: typeof TRACE_FORMAT;
  readonly version: typeof TRACE_VERSION;
  readonly scenario: string;
  readonly variants: Readonly<Record<string, string>>;
  readonly seed: number;
  /** The replay file it was recorded from, as given on the command line. */
  readonly source: string | null;
  readonly host: 'inline' | 'workers';
  readonly outcome: string;
  readonly steps: number;
  readonly traceHash: string;
  readonly divergence: string | null;
  /** The finding the replay file recorded, if any. */
  readonly recorded: ReplayFile['finding'];
  /** Whether the re-run hit the recorded finding (null: the file recorded none). */
  readonly reproduced: boolean | null;
  /** Actor ids in program order. */
  readonly actors: readonly string[];
  readonly findings: readonly TraceFinding[];
  readonly trace: readonly TraceEntry[];
  /** null when the scenario's checkers include no lockdep. */
  readonly lockGraph: LockGraph | null;
}

// ---- validation ---------------------------------------------------------------------

/*
 * The trace document described once, with zod (as the scenario document and
 * the replay file are: scenarios/format/schema.ts, runtime/replay-file.ts):
 * every field a printer reads is checked; an event keeps the fields of its
 * kind that printers do not read (loose), everything else is strict.
 */
const S = z.string().max(1_000_000);
const SOrNull = S.nullable();
const Strings = z.array(S);
const LockKindS = z.enum(['mutex', 'rwsem', 'completion']);
const LockRef = z.looseObject({ id: S, cls: S, kind: LockKindS });
const Mode = z.enum(['write', 'read', 'read-recursive']);

const LOCK_EVENTS = new Set(['lock.request', 'lock.acquired', 'lock.released', 'lock.misuse', 'lock.assert']);
const COMPLETION_EVENTS = new Set(['wait.start', 'wait.done', 'complete']);
const OBJECT_EVENTS = new Set(['access', 'alloc', 'free', 'use', 'get', 'put']);

/** An event: the common fields, then the ones its kind has (a lock, a completion, an object, a message). */
const Event = z.looseObject({ ev: z.enum(EVENT_NAMES as [EventName, ...EventName[]]), task: S, actor: S, stack: Strings }).superRefine((e, ctx) => {
  const o = e as Record<string, unknown>;
  const need = (key: string, schema: z.ZodType): void => {
    const r = schema.safeParse(o[key]);
    if (!r.success) for (const i of r.error.issues) ctx.addIssue({ ...i, path: [key, ...i.path] } as Parameters<typeof ctx.addIssue>[0]);
  };
  if (LOCK_EVENTS.has(e.ev)) need('lock', LockRef);
  if (e.ev === 'lock.request' || e.ev === 'lock.acquired' || e.ev === 'lock.released') need('mode', Mode);
  if (COMPLETION_EVENTS.has(e.ev)) need('completion', LockRef);
  if (OBJECT_EVENTS.has(e.ev)) need('obj', S);
  if (e.ev === 'send') {
    need('msg', S);
    need('to', S);
    need('op', S);
    need('kind', z.enum(['call', 'reply', 'event']));
  }
});

const Entry = z.strictObject({
  i: z.int().min(0), task: S, kind: z.enum(['deliver', 'wake', 'resume']), actor: S, msg: SOrNull, op: SOrNull,
  point: z.enum(['call', 'sleep', 'yield', 'return', 'abort']), events: z.array(Event),
});

const FindingS = z.looseObject({
  kind: z.enum(FINDING_KINDS), title: S, signature: S, actor: SOrNull, handler: SOrNull, report: S, step: z.int().min(0),
  tasks: z.array(z.looseObject({ task: S, stack: Strings, held: Strings, waitsFor: SOrNull })),
});

const Graph = z.strictObject({
  classes: z.array(z.strictObject({ key: S, kind: LockKindS })),
  edges: z.array(z.strictObject({
    from: S, to: S, types: Strings, via: z.enum(['lock', 'complete', 'known']), task: SOrNull, step: z.int().min(-1), site: S, kernelOrder: z.boolean(),
  })),
  cycles: z.array(z.strictObject({ signature: S, classes: Strings, edges: z.array(z.strictObject({ from: S, to: S })) })),
});

export const TraceDocumentSchema = z.strictObject({
  $schema: z.string().max(4096).exactOptional(),
  format: z.literal(TRACE_FORMAT),
  version: z.literal(TRACE_VERSION),
  scenario: S,
  variants: names(S),
  seed: z.int(),
  source: SOrNull,
  host: z.enum(['inline', 'workers']),
  outcome: S,
  steps: z.int().min(0),
  traceHash: S,
  divergence: SOrNull,
  recorded: z.strictObject({ kind: z.enum(FINDING_KINDS), title: S, signature: S }).nullable(),
  reproduced: z.boolean().nullable(),
  actors: Strings,
  findings: z.array(FindingS),
  trace: z.array(Entry).superRefine((t, ctx) => {
    for (let k = 1; k < t.length; k++) {
      if (t[k]!.i <= t[k - 1]!.i) {
        ctx.addIssue({ code: 'custom', path: [k, 'i'], message: `expected step indices in increasing order (previous ${t[k - 1]!.i})` });
        return;
      }
    }
  }),
  lockGraph: Graph.nullable(),
});

/** Checks a parsed JSON value is a trace document (every field a printer reads); bad input is an InputError. */
export function checkTraceDocument(doc: unknown, file: string): TraceDocument {
  const r = TraceDocumentSchema.safeParse(doc, { reportInput: true });
  if (!r.success) throw inputErrorOf(r.error, doc, file);
  // the schema checked what the printers read; the rest of each event is the recorder's (runtime/execution.ts TraceEvent)
  return doc as TraceDocument;
}
