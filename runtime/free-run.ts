import { abortFinding } from '../checkers/crash.ts';
import { blockedFinding } from '../checkers/deadlock.ts';
import type { BlockedTask } from '../checkers/deadlock.ts';
import type { Checker } from '../checkers/checker.ts';
import { HeldLocks } from '../checkers/held-locks.ts';
import type { TraceEvent } from '../protocol/events.ts';
import { rootMessage } from './execution.ts';
import { mergeFreeLogs } from './free-order.ts';
import type { OrderedStep } from './free-order.ts';
import type { FreeOptions } from './hosts/free-driver.ts';
import { LIVE_TASKS, PROGRESS, WorkersHost } from './hosts/workers.ts';
import type { Program } from './program.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';
import type { FreeLog, FreeLogEntry } from '../protocol/wire.ts';
import { frames } from '../protocol/stack.ts';

export interface FreeRunOptions {
  readonly seed: number;
  /** Upper bound of the seeded random delay before a step, in ms (0: none). */
  readonly jitterMs?: number;
  /** No step anywhere for this long while tasks are live → `hung-task` (default 2 s). */
  readonly hangMs?: number;
  /** Stop the run after this long even if tasks are still making progress. */
  readonly timeLimitMs?: number;
  /** Keep every step's events (so checkers can run over the free run). */
  readonly keepEvents?: boolean;
  /** Checkers to run over the recorded events, in the merged order, once the run is over. */
  readonly checkers?: readonly Checker[];
}

export interface FreeRunResult {
  readonly outcome: 'completed' | 'hung' | 'aborted' | 'time-limit';
  /** The order that actually happened, as controlled-mode decisions. */
  readonly decisions: readonly TaskId[];
  readonly steps: number;
  readonly elapsedMs: number;
  readonly findings: readonly Finding[];
  readonly results: Readonly<Record<string, unknown>>;
}

const POLL_MS = 10;

/**
 * Runs `program` once in free mode on its own workers: real concurrency, the
 * operating system decides the order. Ends when every task has ended, when a
 * task aborts, when the watchdog sees no progress for `hangMs`, or at the
 * time limit. Always terminates its workers.
 */
export async function runFree(program: Program, opts: FreeRunOptions): Promise<FreeRunResult> {
  const hangMs = opts.hangMs ?? 2000;
  const host = await WorkersHost.create(program);
  const t0 = performance.now();
  const findings: Finding[] = [];
  const results: Record<string, unknown> = {};
  let aborted = false;
  try {
    const counters = new SharedArrayBuffer(8);
    const c = new Int32Array(counters);
    Atomics.store(c, LIVE_TASKS, program.tasks.length);
    const free: FreeOptions = { seed: opts.seed, jitterMs: opts.jitterMs ?? 0, keepEvents: opts.keepEvents ?? true };
    await host.startFree(free, counters, {
      end: (task, value) => {
        results[task] = value;
      },
      abort: (task, info) => {
        aborted = true;
        findings.push(abortFinding(task, info));
      },
      died: (actor, why) => {
        aborted = true;
        findings.push(abortFinding('?' as TaskId, { kind: 'actor-crash', actor, handler: '?', message: why, jsStack: null, stack: [] }));
      },
    });
    for (const t of program.tasks) host.inject(rootMessage(t, opts.seed));

    let outcome: FreeRunResult['outcome'] = 'completed';
    let last = -1;
    let lastChange = performance.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const now = performance.now();
      if (aborted) {
        outcome = 'aborted';
        break;
      }
      if (Atomics.load(c, LIVE_TASKS) === 0 && program.tasks.every((t) => t.id in results)) break;
      const p = Atomics.load(c, PROGRESS);
      if (p !== last) {
        last = p;
        lastChange = now;
      } else if (now - lastChange >= hangMs) {
        outcome = 'hung';
        break;
      }
      if (opts.timeLimitMs !== undefined && now - t0 >= opts.timeLimitMs) {
        outcome = 'time-limit';
        break;
      }
    }
    const elapsedMs = performance.now() - t0;
    const logs = await host.logs();
    const ordered = mergeFreeLogs(logs);
    if (outcome === 'hung') findings.push(hungFinding(logs, ordered, hangMs));
    if (opts.checkers !== undefined && opts.checkers.length > 0) findings.push(...checkOffline(logs, ordered, opts.checkers));
    return { outcome, decisions: ordered.map((o) => (logs[o.log] as FreeLog).tasks[o.at] as TaskId), steps: ordered.length, elapsedMs, findings, results };
  } finally {
    await host.close();
  }
}

/**
 * Runs checkers over a free run's events in the merged order — the same
 * checker code as online, over the recorded trace.
 */
export function checkOffline(logs: readonly FreeLog[], ordered: readonly OrderedStep[], checkers: readonly Checker[]): Finding[] {
  const seen = new Set<string>();
  const out: Finding[] = [];
  const collect = (): void => {
    for (const c of checkers) {
      for (const f of c.drain()) {
        if (seen.has(f.signature)) continue;
        seen.add(f.signature);
        out.push(f);
      }
    }
  };
  ordered.forEach((o, i) => {
    for (const e of offlineEvents(logs, o)) for (const c of checkers) c.onEvent(e, i);
    collect();
  });
  for (const c of checkers) c.finish?.();
  collect();
  return out;
}

/**
 * The events one merged step gives the checkers. The controlled scheduler
 * emits task start and end itself; here they come from each task's first
 * and last logged step. Empty when the log kept no events.
 */
export function offlineEvents(logs: readonly FreeLog[], o: OrderedStep): readonly TraceEvent[] {
  const log = logs[o.log] as FreeLog;
  const d = log.details?.[o.at];
  if (d === undefined) return [];
  if (d.n !== 0 && !d.end) return d.events;
  const stack = frames(d.stack);
  return [
    ...(d.n === 0 ? [{ ev: 'task.start', task: d.task, actor: log.actor, stack, parent: null } as const] : []),
    ...d.events,
    ...(d.end ? [{ ev: 'task.end', task: d.task, actor: log.actor, stack } as const] : []),
  ];
}

/**
 * The hung-task report: the merged events (when kept) give the held locks;
 * each live task's last step says where it sleeps.
 */
export function hungFinding(logs: readonly FreeLog[], ordered: readonly OrderedStep[], hangMs: number): Finding {
  const held = new HeldLocks();
  ordered.forEach((o, i) => {
    const d = logs[o.log]?.details?.[o.at];
    if (d !== undefined) for (const ev of d.events) held.onEvent(ev, i);
  });
  const last = new Map<TaskId, FreeLogEntry>();
  for (const l of logs) {
    for (const e of l.last) {
      const seen = last.get(e.task);
      if (seen === undefined || e.n > seen.n) last.set(e.task, e);
    }
  }
  const blocked: BlockedTask[] = [];
  for (const [task, e] of last) {
    if (e.end) continue;
    const p = e.point;
    blocked.push(p.at === 'sleep'
      ? { task, stack: frames(e.stack), what: p.what, on: p.on }
      : { task, stack: frames(e.stack), what: p.at === 'call' ? 'a reply' : p.at, on: null });
  }
  return blockedFinding('hung-task', blocked, held, hangMs);
}
