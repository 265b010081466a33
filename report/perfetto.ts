import type { TraceEntry } from '../runtime/execution.ts';
import { classKey } from '../protocol/lock-classes.ts';
import { variantKey } from '../scenarios/scenario.ts';
import type { ChromeTrace, TraceEvent } from './chrome-trace.ts';
import { describeEvent, stepOp, stepViews } from './steps.ts';
import type { TraceDocument } from './trace-doc.ts';

/**
 * Time is the step index: step i is the slice [i·STEP_US, i·STEP_US + SLICE_US)
 * (microseconds, as the format counts), with a gap so that neighbouring
 * steps stay apart on screen.
 */
export const STEP_US = 10;
const SLICE_US = 8;
const MID_US = SLICE_US / 2;

const ACTORS_PID = 1;
const TASKS_PID = 2;

/** One lock hold of a task: from the step that granted it to the step that released it. */
interface Hold {
  readonly name: string;
  readonly start: number;
  end: number;
  readonly args: Record<string, unknown>;
}

/** Lock holds per task, from the lock events of the trace; a hold never released ends with the trace. */
function holdsOf(trace: readonly TraceEntry[]): Map<string, Hold[]> {
  const out = new Map<string, Hold[]>();
  const open = new Map<string, { readonly id: string; readonly hold: Hold }[]>();
  const lastStep = trace.length === 0 ? 0 : (trace[trace.length - 1] as TraceEntry).i;
  for (const t of trace) {
    for (const e of t.events) {
      if (e.ev === 'lock.acquired' && e.ok) {
        const hold: Hold = {
          name: `${classKey(e.lock)}${e.mode === 'write' ? '' : ` (${e.mode})`}`,
          start: t.i * STEP_US, end: -1,
          args: { lock: e.lock.id, class: classKey(e.lock), kind: e.lock.kind, mode: e.mode, trylock: e.try, grantedAt: t.i },
        };
        const list = open.get(e.task) ?? [];
        list.push({ id: e.lock.id, hold });
        open.set(e.task, list);
        const mine = out.get(e.task) ?? [];
        mine.push(hold);
        out.set(e.task, mine);
      } else if (e.ev === 'lock.released') {
        const list = open.get(e.task) ?? [];
        for (let k = list.length - 1; k >= 0; k--) {
          const h = list[k] as { readonly id: string; readonly hold: Hold };
          if (h.id !== e.lock.id) continue;
          h.hold.end = t.i * STEP_US + SLICE_US;
          h.hold.args.releasedAt = t.i;
          list.splice(k, 1);
          break;
        }
      }
    }
  }
  for (const list of open.values()) {
    for (const h of list) {
      h.hold.end = lastStep * STEP_US + SLICE_US;
      h.hold.args.unreleased = true;
    }
  }
  return out;
}

/**
 * Spreads a task's holds over as few lanes as keeps each lane properly
 * nested: the kernel releases locks in any order, a track's slices may not
 * overlap without nesting.
 */
function lanesOf(holds: readonly Hold[]): Hold[][] {
  const sorted = [...holds].sort((a, b) => a.start - b.start || b.end - a.end);
  const lanes: { readonly holds: Hold[]; readonly stack: Hold[] }[] = [];
  for (const h of sorted) {
    let lane = lanes.find((l) => {
      while (l.stack.length > 0 && (l.stack[l.stack.length - 1] as Hold).end < h.start) l.stack.pop();
      const top = l.stack[l.stack.length - 1];
      return top === undefined || top.end >= h.end;
    });
    if (lane === undefined) {
      lane = { holds: [], stack: [] };
      lanes.push(lane);
    }
    lane.holds.push(h);
    lane.stack.push(h);
  }
  return lanes.map((l) => l.holds);
}

/** B/E pairs for one lane of nested holds, in time order. */
function laneEvents(holds: readonly Hold[], pid: number, tid: number): TraceEvent[] {
  const out: TraceEvent[] = [];
  const stack: Hold[] = [];
  const end = (h: Hold): void => void out.push({ name: h.name, ph: 'E', ts: h.end, pid, tid, cat: 'lock' });
  for (const h of holds) {
    while (stack.length > 0 && (stack[stack.length - 1] as Hold).end < h.start) end(stack.pop() as Hold);
    out.push({ name: h.name, ph: 'B', ts: h.start, pid, tid, cat: 'lock', args: h.args });
    stack.push(h);
  }
  while (stack.length > 0) end(stack.pop() as Hold);
  return out;
}

/**
 * The run as a Chrome trace (Perfetto loads it): a process "actors" with a
 * track per actor and a process "tasks" with a track per task, each step a
 * slice on both; under each task, its lock holds from grant to release
 * (B/E pairs, on extra lanes when releases are not in reverse order);
 * messages between actors as flow arrows; findings as global instants.
 */
export function renderPerfetto(doc: TraceDocument): ChromeTrace {
  const ev: TraceEvent[] = [];
  const meta = (name: string, pid: number, tid: number, args: Record<string, unknown>): void => void ev.push({ name, ph: 'M', ts: 0, pid, tid, args });
  meta('process_name', ACTORS_PID, 0, { name: 'actors' });
  meta('process_sort_index', ACTORS_PID, 0, { sort_index: 1 });
  meta('process_name', TASKS_PID, 0, { name: 'tasks' });
  meta('process_sort_index', TASKS_PID, 0, { sort_index: 2 });

  const actorTid = new Map<string, number>();
  const addActor = (a: string): void => {
    if (actorTid.has(a)) return;
    const tid = actorTid.size + 1;
    actorTid.set(a, tid);
    meta('thread_name', ACTORS_PID, tid, { name: a });
    meta('thread_sort_index', ACTORS_PID, tid, { sort_index: tid });
  };
  for (const a of doc.actors) addActor(a);
  for (const t of doc.trace) addActor(t.actor);

  // Task tracks in order of first step, each followed by its lock lanes.
  const holds = holdsOf(doc.trace);
  const taskTid = new Map<string, number>();
  let nextTid = 1;
  const lockEvents: TraceEvent[] = [];
  for (const t of doc.trace) {
    if (taskTid.has(t.task)) continue;
    const tid = nextTid++;
    taskTid.set(t.task, tid);
    meta('thread_name', TASKS_PID, tid, { name: t.task });
    meta('thread_sort_index', TASKS_PID, tid, { sort_index: tid });
    lanesOf(holds.get(t.task) ?? []).forEach((lane, k) => {
      const lt = nextTid++;
      meta('thread_name', TASKS_PID, lt, { name: `${t.task} locks${k === 0 ? '' : ` (${k + 1})`}` });
      meta('thread_sort_index', TASKS_PID, lt, { sort_index: lt });
      lockEvents.push(...laneEvents(lane, TASKS_PID, lt));
    });
  }

  const views = stepViews(doc.trace);
  let flowId = 0;
  for (const v of views) {
    const t = v.entry;
    const ts = t.i * STEP_US;
    const args = {
      step: t.i, task: t.task, actor: t.actor, kind: t.kind, msg: t.msg, point: t.point,
      events: t.events.map((e) => describeEvent(e, t.events)).filter((x): x is string => x !== null),
    };
    const op = stepOp(v);
    ev.push({ name: `${t.task}: ${op}`, ph: 'X', ts, dur: SLICE_US, pid: ACTORS_PID, tid: actorTid.get(t.actor) as number, cat: 'step', args });
    ev.push({ name: `${t.actor}: ${op}`, ph: 'X', ts, dur: SLICE_US, pid: TASKS_PID, tid: taskTid.get(t.task) as number, cat: 'step', args });
    if (v.fromAt !== null && (v.arrow === 'call' || v.arrow === 'reply' || v.arrow === 'spawn')) {
      const src = doc.trace[v.fromAt] as TraceEntry;
      const id = ++flowId;
      const name = `${v.arrow} ${t.op ?? '?'}`;
      ev.push({ name, ph: 's', ts: src.i * STEP_US + MID_US, pid: ACTORS_PID, tid: actorTid.get(src.actor) as number, cat: 'msg', id });
      ev.push({ name, ph: 'f', bp: 'e', ts: ts + MID_US, pid: ACTORS_PID, tid: actorTid.get(t.actor) as number, cat: 'msg', id });
    }
  }
  ev.push(...lockEvents);
  for (const f of doc.findings) {
    ev.push({
      name: f.title, ph: 'i', s: 'g', ts: f.step * STEP_US + SLICE_US, pid: ACTORS_PID, tid: 0, cat: 'finding',
      args: { kind: f.kind, signature: f.signature, step: f.step, tasks: f.tasks.map((x) => x.task), report: f.report },
    });
  }
  return {
    traceEvents: ev,
    displayTimeUnit: 'ns',
    otherData: {
      tool: 'iommu-lab report', scenario: doc.scenario, variants: variantKey(doc.variants), seed: String(doc.seed),
      outcome: doc.outcome, timeUnit: `1 step = ${STEP_US} us`, ...(doc.source === null ? {} : { replay: doc.source }),
    },
  };
}
