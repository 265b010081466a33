import type { Checker } from '../checkers/checker.ts';
import { HeldLocks } from '../checkers/held-locks.ts';
import { Lockdep, frameOf, toFinding } from '../checkers/lockdep/index.ts';
import { runExecution } from '../runtime/execution.ts';
import type { TraceEntry } from '../runtime/execution.ts';
import type { Host } from '../runtime/hosts/host.ts';
import type { Program } from '../runtime/program.ts';
import { sameFailure } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { ReplayStrategy } from '../runtime/strategies/replay.ts';
import { classKey } from '../protocol/lock-classes.ts';
import type { LockKind, LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { TRACE_FORMAT, TRACE_VERSION } from './trace-doc.ts';
import type { LockGraph, LockGraphClass, LockGraphCycle, LockGraphEdge, TraceDocument, TraceFinding } from './trace-doc.ts';

/**
 * Remembers after which step each finding came out of a checker. The run
 * collects a checker's findings right after the step whose events produced
 * them, so the last event's step is the one; findings drained at the end
 * of the run (leaks) belong to its last step.
 */
class FindingSteps {
  private readonly steps = new Map<string, number>();

  wrap(c: Checker): Checker {
    let last = -1;
    let ended = false;
    const note = (fs: readonly Finding[]): readonly Finding[] => {
      for (const f of fs) if (!this.steps.has(f.signature)) this.steps.set(f.signature, ended ? -1 : last);
      return fs;
    };
    return {
      name: c.name,
      onEvent: (e, step) => {
        last = step;
        c.onEvent(e, step);
      },
      drain: () => note(c.drain()),
      finish: () => {
        ended = true;
        c.finish?.();
      },
    };
  }

  /** The step a finding was reported at; the run's own findings (deadlock, abort) and end-of-run ones get the last step. */
  stepOf(f: Finding, lastStep: number): number {
    const s = this.steps.get(f.signature);
    return s === undefined || s < 0 ? lastStep : s;
  }
}

function lockRefsOf(e: TraceEvent): LockRef | null {
  switch (e.ev) {
    case 'lock.request':
    case 'lock.acquired':
    case 'lock.released':
    case 'lock.misuse':
    case 'lock.assert':
      return e.lock;
    case 'wait.start':
    case 'wait.done':
    case 'complete':
      return e.completion;
    default:
      return null;
  }
}

/** Every (held class, requested class) pair of a blocking lock request in the trace, first occurrence. */
function takenPairs(trace: readonly TraceEntry[]): Map<string, { readonly task: string; readonly step: number; readonly site: string }> {
  const held = new HeldLocks();
  const out = new Map<string, { readonly task: string; readonly step: number; readonly site: string }>();
  for (const t of trace) {
    for (const e of t.events) {
      if ((e.ev === 'lock.request' && !e.try) || e.ev === 'wait.start') {
        const to = classKey(e.ev === 'lock.request' ? e.lock : e.completion);
        for (const h of held.of(e.task)) {
          const key = `${classKey(h.lock)}\u0000${to}`;
          if (!out.has(key)) out.set(key, { task: e.task, step: t.i, site: frameOf(e.stack) });
        }
      }
      held.onEvent(e, t.i);
    }
  }
  return out;
}

/** lockdep's class graph as plain data: the classes seen, every edge with its first site, and the reported cycles. */
function lockGraphOf(lockdep: Lockdep, trace: readonly TraceEntry[]): LockGraph {
  const kinds = new Map<string, LockKind>();
  for (const t of trace) {
    for (const e of t.events) {
      const l = lockRefsOf(e);
      if (l !== null && !kinds.has(classKey(l))) kinds.set(classKey(l), l.kind);
    }
  }
  const cycles: LockGraphCycle[] = [];
  for (const b of lockdep.bugs()) {
    if (b.type !== 'circular') continue;
    for (const k of b.completions) kinds.set(k, 'completion');
    // The new edge tgt → src closes the existing path src → … → tgt.
    const edges = [{ from: b.tgt.key, to: b.src.key }, ...b.path.map((e) => ({ from: e.from, to: e.to }))];
    cycles.push({ signature: toFinding(b).signature, classes: [...new Set(edges.map((e) => e.from))], edges });
  }
  // lockdep keeps the first trace of an edge: for the kernel's preloaded order
  // that is the order itself, so find where the run took it too, if it did.
  const taken = takenPairs(trace);
  const edges: LockGraphEdge[] = lockdep.dependencies().map((e) => {
    const seen = e.trace.via === 'known' ? taken.get(`${e.from}\u0000${e.to}`) : undefined;
    const types = [...e.types].sort();
    if (seen !== undefined) return { from: e.from, to: e.to, types, via: 'lock', task: seen.task, step: seen.step, site: seen.site, kernelOrder: true };
    return {
      from: e.from, to: e.to, types, via: e.trace.via, task: e.trace.task, step: e.trace.step,
      site: e.trace.via === 'known' ? (e.trace.stack[0] ?? 'kernel') : frameOf(e.trace.stack), kernelOrder: e.trace.via === 'known',
    };
  });
  // Classes of the run: those with events, and the ends of every edge the run itself added.
  for (const e of edges) {
    if (e.via === 'known') continue;
    for (const k of [e.from, e.to]) if (!kinds.has(k)) kinds.set(k, 'mutex');
  }
  for (const c of cycles) for (const k of c.classes) if (!kinds.has(k)) kinds.set(k, 'mutex');
  const classes: LockGraphClass[] = [...kinds].map(([key, kind]) => ({ key, kind })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { classes, edges, cycles };
}

export interface RecordOptions {
  readonly host: Host;
  readonly program: Program;
  /** Fresh checkers of the scenario (a Lockdep among them gives the lock graph). */
  readonly checkers: readonly Checker[];
  readonly replay: ReplayFile;
  /** The resolved variant assignment. */
  readonly variants: Readonly<Record<string, string>>;
  readonly source: string | null;
}

/** Re-runs a replay file in controlled mode with the full trace recorded, and keeps what the printers need. */
export async function recordTrace(o: RecordOptions): Promise<TraceDocument> {
  const steps = new FindingSteps();
  const r = await runExecution(o.host, o.program, new ReplayStrategy(o.replay.decisions), {
    seed: o.replay.seed,
    record: true,
    checkers: o.checkers.map((c) => steps.wrap(c)),
  });
  const trace = r.trace ?? [];
  const lastStep = trace.length === 0 ? 0 : (trace[trace.length - 1] as TraceEntry).i;
  const findings: TraceFinding[] = r.findings.map((f) => ({ ...f, step: steps.stepOf(f, lastStep) }));
  const lockdep = o.checkers.find((c): c is Lockdep => c instanceof Lockdep) ?? null;
  const recorded = o.replay.finding;
  return {
    format: TRACE_FORMAT, version: TRACE_VERSION, scenario: o.replay.scenario, variants: o.variants, seed: o.replay.seed,
    source: o.source, host: o.host.kind, outcome: r.outcome, steps: r.steps, traceHash: r.traceHash, divergence: r.divergence,
    recorded, reproduced: recorded === null ? null : r.findings.some((f) => sameFailure(recorded.signature, f.signature)),
    actors: o.program.actors.map((a) => a.id), findings, trace,
    lockGraph: lockdep === null ? null : lockGraphOf(lockdep, trace),
  };
}
