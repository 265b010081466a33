import { InputError } from '../runtime/input-error.ts';
import type { TraceEntry } from '../runtime/execution.ts';
import { EVENT_NAMES } from '../protocol/events.ts';
import type { LockKind } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { isFindingKind } from '../protocol/findings.ts';
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

type Obj = Record<string, unknown>;

/** Field checks that throw an InputError naming the file, the path and what was expected. */
class FieldCheck {
  private readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  fail(where: string, what: string): never {
    throw new InputError(what, this.file, where);
  }

  obj(v: unknown, where: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(where, 'expected an object');
    return v as Obj;
  }

  arr(v: unknown, where: string): readonly unknown[] {
    if (!Array.isArray(v)) this.fail(where, 'expected an array');
    return v;
  }

  str(v: unknown, where: string): string {
    if (typeof v !== 'string') this.fail(where, 'expected a string');
    return v;
  }

  strOrNull(v: unknown, where: string): void {
    if (v !== null && typeof v !== 'string') this.fail(where, 'expected a string or null');
  }

  int(v: unknown, where: string, min: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(where, `expected an integer >= ${min}`);
    return v;
  }

  oneOf(v: unknown, where: string, values: readonly string[]): void {
    if (typeof v !== 'string' || !values.includes(v)) this.fail(where, `expected one of ${values.map((x) => `"${x}"`).join(', ')}`);
  }

  strings(v: unknown, where: string): void {
    this.arr(v, where).forEach((s, i) => this.str(s, `${where}[${i}]`));
  }
}

const LOCK_EVENTS = new Set(['lock.request', 'lock.acquired', 'lock.released', 'lock.misuse', 'lock.assert']);
const COMPLETION_EVENTS = new Set(['wait.start', 'wait.done', 'complete']);
const OBJECT_EVENTS = new Set(['access', 'alloc', 'free', 'use', 'get', 'put']);

function checkLockRef(c: FieldCheck, v: unknown, where: string): void {
  const l = c.obj(v, where);
  c.str(l.id, `${where}.id`);
  c.str(l.cls, `${where}.cls`);
  c.oneOf(l.kind, `${where}.kind`, ['mutex', 'rwsem', 'completion']);
}

/** The fields of an event that the printers read. */
function checkEvent(c: FieldCheck, v: unknown, where: string): void {
  const e = c.obj(v, where);
  c.oneOf(e.ev, `${where}.ev`, EVENT_NAMES);
  c.str(e.task, `${where}.task`);
  c.str(e.actor, `${where}.actor`);
  c.strings(e.stack, `${where}.stack`);
  const ev = e.ev as string;
  if (LOCK_EVENTS.has(ev)) checkLockRef(c, e.lock, `${where}.lock`);
  if (ev === 'lock.request' || ev === 'lock.acquired' || ev === 'lock.released') c.oneOf(e.mode, `${where}.mode`, ['write', 'read', 'read-recursive']);
  if (COMPLETION_EVENTS.has(ev)) checkLockRef(c, e.completion, `${where}.completion`);
  if (OBJECT_EVENTS.has(ev)) c.str(e.obj, `${where}.obj`);
  if (ev === 'send') {
    c.str(e.msg, `${where}.msg`);
    c.str(e.to, `${where}.to`);
    c.str(e.op, `${where}.op`);
    c.oneOf(e.kind, `${where}.kind`, ['call', 'reply', 'event']);
  }
}

function checkEntry(c: FieldCheck, v: unknown, where: string, index: number, prev: number): void {
  const t = c.obj(v, where);
  const i = c.int(t.i, `${where}.i`, 0);
  if (index > 0 && i <= prev) c.fail(`${where}.i`, `expected step indices in increasing order (previous ${prev})`);
  c.str(t.task, `${where}.task`);
  c.oneOf(t.kind, `${where}.kind`, ['deliver', 'wake', 'resume']);
  c.str(t.actor, `${where}.actor`);
  c.strOrNull(t.msg, `${where}.msg`);
  c.strOrNull(t.op, `${where}.op`);
  c.oneOf(t.point, `${where}.point`, ['call', 'sleep', 'yield', 'return', 'abort']);
  c.arr(t.events, `${where}.events`).forEach((e, j) => checkEvent(c, e, `${where}.events[${j}]`));
}

function checkFinding(c: FieldCheck, v: unknown, where: string): void {
  const f = c.obj(v, where);
  if (typeof f.kind !== 'string' || !isFindingKind(f.kind)) c.fail(`${where}.kind`, 'expected a finding kind');
  c.str(f.title, `${where}.title`);
  c.str(f.signature, `${where}.signature`);
  c.strOrNull(f.actor, `${where}.actor`);
  c.strOrNull(f.handler, `${where}.handler`);
  c.str(f.report, `${where}.report`);
  c.int(f.step, `${where}.step`, 0);
  c.arr(f.tasks, `${where}.tasks`).forEach((t, i) => {
    const s = c.obj(t, `${where}.tasks[${i}]`);
    c.str(s.task, `${where}.tasks[${i}].task`);
    c.strings(s.stack, `${where}.tasks[${i}].stack`);
    c.strings(s.held, `${where}.tasks[${i}].held`);
    c.strOrNull(s.waitsFor, `${where}.tasks[${i}].waitsFor`);
  });
}

function checkLockGraph(c: FieldCheck, v: unknown, where: string): void {
  if (v === null) return;
  const g = c.obj(v, where);
  c.arr(g.classes, `${where}.classes`).forEach((k, i) => {
    const o = c.obj(k, `${where}.classes[${i}]`);
    c.str(o.key, `${where}.classes[${i}].key`);
    c.oneOf(o.kind, `${where}.classes[${i}].kind`, ['mutex', 'rwsem', 'completion']);
  });
  c.arr(g.edges, `${where}.edges`).forEach((x, i) => {
    const w = `${where}.edges[${i}]`;
    const e = c.obj(x, w);
    c.str(e.from, `${w}.from`);
    c.str(e.to, `${w}.to`);
    c.strings(e.types, `${w}.types`);
    c.oneOf(e.via, `${w}.via`, ['lock', 'complete', 'known']);
    c.strOrNull(e.task, `${w}.task`);
    c.int(e.step, `${w}.step`, -1);
    c.str(e.site, `${w}.site`);
    if (typeof e.kernelOrder !== 'boolean') c.fail(`${w}.kernelOrder`, 'expected true or false');
  });
  c.arr(g.cycles, `${where}.cycles`).forEach((x, i) => {
    const w = `${where}.cycles[${i}]`;
    const y = c.obj(x, w);
    c.str(y.signature, `${w}.signature`);
    c.strings(y.classes, `${w}.classes`);
    c.arr(y.edges, `${w}.edges`).forEach((e, j) => {
      const o = c.obj(e, `${w}.edges[${j}]`);
      c.str(o.from, `${w}.edges[${j}].from`);
      c.str(o.to, `${w}.edges[${j}].to`);
    });
  });
}

/** Checks a parsed JSON value is a trace document (every field a printer reads); bad input is an InputError. */
export function checkTraceDocument(doc: unknown, file: string): TraceDocument {
  const c = new FieldCheck(file);
  const d = c.obj(doc, '(document)');
  if (d.format !== TRACE_FORMAT) c.fail('format', `expected "${TRACE_FORMAT}"`);
  if (d.version !== TRACE_VERSION) c.fail('version', `expected ${TRACE_VERSION}`);
  c.str(d.scenario, 'scenario');
  const v = c.obj(d.variants, 'variants');
  for (const [k, x] of Object.entries(v)) c.str(x, `variants.${k}`);
  c.int(d.seed, 'seed', Number.MIN_SAFE_INTEGER);
  c.strOrNull(d.source, 'source');
  c.oneOf(d.host, 'host', ['inline', 'workers']);
  c.str(d.outcome, 'outcome');
  c.int(d.steps, 'steps', 0);
  c.str(d.traceHash, 'traceHash');
  c.strOrNull(d.divergence, 'divergence');
  if (d.recorded !== null) {
    const r = c.obj(d.recorded, 'recorded');
    if (typeof r.kind !== 'string' || !isFindingKind(r.kind)) c.fail('recorded.kind', 'expected a finding kind');
    c.str(r.title, 'recorded.title');
    c.str(r.signature, 'recorded.signature');
  }
  if (d.reproduced !== null && typeof d.reproduced !== 'boolean') c.fail('reproduced', 'expected true, false or null');
  c.strings(d.actors, 'actors');
  c.arr(d.findings, 'findings').forEach((f, i) => checkFinding(c, f, `findings[${i}]`));
  let prev = -1;
  c.arr(d.trace, 'trace').forEach((t, i) => {
    checkEntry(c, t, `trace[${i}]`, i, prev);
    prev = (t as Obj).i as number;
  });
  checkLockGraph(c, d.lockGraph, 'lockGraph');
  return d as unknown as TraceDocument;
}
