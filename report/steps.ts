import { describeDelta, isDelta } from '../protocol/delta.ts';
import type { TraceEntry } from '../runtime/execution.ts';
import { classKey } from '../protocol/lock-classes.ts';
import type { TraceEvent } from '../protocol/events.ts';

/**
 * How a step came about, read back from the trace: a delivery continues its
 * task from the actor where the task last ran (a call it sent, or a reply),
 * or starts a task (from the scenario, or spawned by a `send` of kind
 * event); `wake` and `resume` continue a sleeping or yielded task in place.
 * `enter` is a delivery whose sender is not in the trace (a trace that
 * starts after the set-up phase).
 */
export type Arrow = 'start' | 'spawn' | 'call' | 'reply' | 'enter' | 'wake' | 'resume';

export interface StepView {
  /** Position in the trace array. */
  readonly at: number;
  readonly entry: TraceEntry;
  readonly arrow: Arrow;
  /** The sending actor for start/spawn/call/reply ('@root' for start); null otherwise. */
  readonly from: string | null;
  /** Position of the step that sent the delivered message, when it is in the trace. */
  readonly fromAt: number | null;
}

/** The root message of a task has sequence 0 (protocol/ids.ts msgId). */
const isRootMessage = (task: string, msg: string | null): boolean => msg === `${task}#0`;

export function stepViews(trace: readonly TraceEntry[]): StepView[] {
  const last = new Map<string, { actor: string; point: string; at: number }>();
  const spawns = new Map<string, { actor: string; at: number }>();
  const out: StepView[] = [];
  trace.forEach((t, at) => {
    let arrow: Arrow;
    let from: string | null = null;
    let fromAt: number | null = null;
    if (t.kind === 'wake') arrow = 'wake';
    else if (t.kind === 'resume') arrow = 'resume';
    else {
      const prev = last.get(t.task);
      const spawn = t.msg === null ? undefined : spawns.get(t.msg);
      if (prev !== undefined && (prev.point === 'call' || prev.point === 'return')) {
        arrow = prev.point === 'call' ? 'call' : 'reply';
        from = prev.actor;
        fromAt = prev.at;
      } else if (spawn !== undefined) {
        arrow = 'spawn';
        from = spawn.actor;
        fromAt = spawn.at;
      } else if (prev === undefined && isRootMessage(t.task, t.msg)) {
        arrow = 'start';
        from = '@root';
      } else {
        arrow = 'enter';
      }
    }
    for (const e of t.events) if (e.ev === 'send' && e.kind === 'event') spawns.set(e.msg, { actor: e.actor, at });
    last.set(t.task, { actor: t.actor, point: t.point, at });
    out.push({ at, entry: t, arrow, from, fromAt });
  });
  return out;
}

/** What a step did, as the op column shows it. */
export function stepOp(v: StepView): string {
  const t = v.entry;
  switch (v.arrow) {
    case 'wake':
      return '(wake)';
    case 'resume':
      return '(resume)';
    case 'reply':
      return `${t.op ?? '?'} (reply)`;
    case 'spawn':
      return `${t.op ?? '?'} (spawned)`;
    default:
      return t.op ?? '?';
  }
}

/** Events that say something on their own; field accesses and uses are too many to list everywhere. */
export function isNotable(e: TraceEvent): boolean {
  switch (e.ev) {
    case 'lock.acquired':
    case 'lock.released':
    case 'lock.misuse':
    case 'wait.start':
    case 'wait.done':
    case 'complete':
    case 'alloc':
    case 'free':
    case 'get':
    case 'put':
    case 'warn':
    case 'bug':
    case 'dma':
      return true;
    case 'lock.assert':
      return !e.ok;
    case 'send':
      return e.kind === 'event';
    case 'lock.request':
    case 'access':
    case 'use':
    case 'task.start':
    case 'task.end':
    case 'fn.patched':
      return false;
    case 'task.context':
      return e.context !== null;
  }
}

const lockName = (l: { readonly id: string; readonly cls: string; readonly sub?: number }): string => {
  const key = classKey(l as Parameters<typeof classKey>[0]);
  return l.id === key ? l.id : `${l.id} (${key})`;
};

const short = (v: unknown): string => {
  const s = isDelta(v) ? describeDelta(v, (x) => JSON.stringify(x) ?? 'undefined') : (JSON.stringify(v) ?? 'undefined');
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

/**
 * One event in a few words, or null for events that add nothing next to
 * the others of the same step (a lock request that was granted at once).
 */
export function describeEvent(e: TraceEvent, step: readonly TraceEvent[]): string | null {
  switch (e.ev) {
    case 'lock.request': {
      const granted = step.some((x) => x.ev === 'lock.acquired' && x.lock.id === e.lock.id && x.task === e.task);
      return granted ? null : `waits for ${lockName(e.lock)}${e.mode === 'write' ? '' : ` (${e.mode})`}`;
    }
    case 'lock.acquired':
      if (!e.ok) return `trylock ${lockName(e.lock)} failed`;
      return `acquires ${lockName(e.lock)}${e.mode === 'write' ? '' : ` (${e.mode})`}${e.try ? ' by trylock' : ''}`;
    case 'lock.released':
      return `releases ${lockName(e.lock)}`;
    case 'lock.misuse':
      return `lock misuse on ${lockName(e.lock)}: ${e.what}`;
    case 'lock.assert':
      return e.ok ? null : `${e.held ? 'lockdep_assert_held' : 'lockdep_assert_not_held'}(${e.lock.id}) fails`;
    case 'wait.start':
      return `waits for completion ${e.completion.id}`;
    case 'wait.done':
      return `completion ${e.completion.id} done`;
    case 'complete':
      return `complete${e.all ? '_all' : ''}(${e.completion.id})`;
    case 'alloc':
      return `alloc ${e.type} ${e.obj}`;
    case 'free':
      return `free ${e.obj}`;
    case 'get':
      return `get ${e.obj} (${e.count})`;
    case 'put':
      return `put ${e.obj} (${e.count})`;
    case 'use':
      return `use ${e.obj}: ${e.what}`;
    case 'access':
      if (e.walk !== undefined) return `${e.op} ${e.field} of ${e.walk.objs.length} objects (a list walk: ${e.walk.objs[0]} … ${e.walk.objs[e.walk.objs.length - 1]})`;
      return `${e.op} ${e.obj}.${e.field}${e.op === 'write' ? ` = ${short(e.value)}` : ''}`;
    case 'warn':
      return `WARN: ${e.message}`;
    case 'bug':
      return `BUG: ${e.message}`;
    case 'dma':
      return `DMA ${e.dev} iova ${e.iova} ${e.outcome}`;
    case 'fn.patched':
      return `runs the patched ${e.fn}()`;
    case 'send':
      return e.kind === 'event' ? `spawns ${e.op} on ${e.to}` : null;
    case 'task.start':
    case 'task.end':
      return null;
    case 'task.context':
      return e.context === null ? null : `runs as ${e.context} (single-threaded)`;
  }
}

/** The notable events of a step, each in a few words. */
export function notableEvents(t: TraceEntry): string[] {
  const out: string[] = [];
  for (const e of t.events) {
    if (!isNotable(e) && e.ev !== 'lock.request') continue;
    const d = describeEvent(e, t.events);
    if (d !== null) out.push(d);
  }
  return out;
}

/** The names (objects, lock ids and classes) an event is about. */
export function namesOf(e: TraceEvent): string[] {
  switch (e.ev) {
    case 'lock.request':
    case 'lock.acquired':
    case 'lock.released':
    case 'lock.misuse':
    case 'lock.assert':
      return [e.lock.id, classKey(e.lock)];
    case 'wait.start':
    case 'wait.done':
    case 'complete':
      return [e.completion.id, classKey(e.completion)];
    case 'access':
      return e.walk === undefined ? [e.obj] : [...e.walk.objs];
    case 'alloc':
    case 'free':
    case 'use':
    case 'get':
    case 'put':
      return [e.obj];
    case 'dma':
      return [e.dev];
    default:
      return [];
  }
}

/** The words of a report, split where reports put object and lock names between punctuation. */
export function reportTokens(reports: readonly string[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const r of reports) for (const w of r.split(/[\s(),;'"[\]{}]+/)) if (w !== '') out.add(w);
  return out;
}
