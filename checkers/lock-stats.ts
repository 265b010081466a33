import { NO_FINDINGS } from './checker.ts';
import type { Checker } from './checker.ts';
import { classKey } from '../protocol/lock-classes.ts';
import type { TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';

/**
 * Per-class lock statistics, in the spirit of /proc/lock_stat
 * (kernel/locking/lockdep_proc.c: lock_stat_show): acquisitions,
 * contentions, wait and hold times. Time is counted in scheduler steps (the
 * `step` of each event), the only clock the model has, so the numbers are
 * the same for the same schedule in either host.
 *
 * A blocking request is *contended* when it is granted in a later step than
 * it was made (the lock manager grants an uncontended request within the
 * same step); a request never granted (a deadlock) counts as contended too.
 * Waiters of a class are the contended requests pending at once.
 */

export interface TimeStats {
  readonly count: number;
  readonly total: number;
  readonly min: number;
  readonly max: number;
}

export interface LockClassStats {
  /** Successful acquisitions (blocking or trylock), all modes. */
  readonly acquisitions: number;
  /** Of which for read (rwsem readers). */
  readonly readAcquisitions: number;
  readonly tryFailures: number;
  readonly contentions: number;
  /** Steps from request to grant, over contended acquisitions. */
  readonly wait: TimeStats;
  /** Steps from grant to release. */
  readonly hold: TimeStats;
  readonly maxWaiters: number;
  /** Completions: wait_for_completion() calls and complete()/complete_all() calls. */
  readonly completionWaits: number;
  readonly completes: number;
}

export interface LockStatsSummary {
  /** Steps observed (the last event's step + 1). */
  readonly steps: number;
  /** By class key ("device_lock", "device_lock/1"), sorted. */
  readonly classes: Readonly<Record<string, LockClassStats>>;
}

interface MutableTime {
  count: number;
  total: number;
  min: number;
  max: number;
}

interface MutableStats {
  acquisitions: number;
  readAcquisitions: number;
  tryFailures: number;
  contentions: number;
  wait: MutableTime;
  hold: MutableTime;
  waiters: number;
  maxWaiters: number;
  completionWaits: number;
  completes: number;
}

interface Pending {
  readonly key: string;
  readonly step: number;
  /** Crossed a step boundary without a grant: the task sleeps. */
  waiting: boolean;
}

const time = (): MutableTime => ({ count: 0, total: 0, min: 0, max: 0 });

function addTime(t: MutableTime, v: number): void {
  t.min = t.count === 0 ? v : Math.min(t.min, v);
  t.max = Math.max(t.max, v);
  t.total += v;
  t.count++;
}

/**
 * Values by task, then by lock id: a Map keyed by the two ids joined made
 * and hashed a new string at every lock event, up to three times per
 * acquisition (issue 19). A task's Map stays when it empties (a task takes
 * locks again and again); `count` says whether anything is left.
 */
class ByTaskLock<V> {
  private readonly byTask = new Map<TaskId, Map<string, V>>();
  private count = 0;

  get empty(): boolean {
    return this.count === 0;
  }

  get(task: TaskId, id: string): V | undefined {
    return this.byTask.get(task)?.get(id);
  }

  set(task: TaskId, id: string, v: V): void {
    let m = this.byTask.get(task);
    if (m === undefined) {
      m = new Map();
      this.byTask.set(task, m);
    }
    if (!m.has(id)) this.count++;
    m.set(id, v);
  }

  delete(task: TaskId, id: string): void {
    if (this.byTask.get(task)?.delete(id) === true) this.count--;
  }

  /** Forgets the tasks with nothing left (a set-up's, when it ends: a snapshot need not keep their empty Maps). */
  dropEmpty(): void {
    if (this.count === 0) this.byTask.clear();
    else for (const [t, m] of this.byTask) if (m.size === 0) this.byTask.delete(t);
  }

  *values(): IterableIterator<V> {
    for (const m of this.byTask.values()) yield* m.values();
  }
}

export class LockStats implements Checker {
  readonly name = 'lock-stats';
  private readonly stats = new Map<string, MutableStats>();
  /** Blocking requests and completion waits not yet granted, by task and lock id. */
  private readonly pending = new ByTaskLock<Pending>();
  /** Grant steps of held locks, by task + lock id (a stack: recursive readers nest). */
  private readonly holds = new ByTaskLock<{ readonly key: string; readonly step: number }[]>();
  private lastStep = -1;

  onEvent(e: TraceEvent, step: number): void {
    if (step !== this.lastStep) {
      this.crossStep();
      this.lastStep = step;
    }
    switch (e.ev) {
      case 'lock.request':
        if (!e.try) this.pending.set(e.task, e.lock.id, { key: classKey(e.lock), step, waiting: false });
        return;
      case 'lock.acquired': {
        const key = classKey(e.lock);
        const s = this.of(key);
        if (!e.ok) {
          s.tryFailures++;
          return;
        }
        s.acquisitions++;
        if (e.mode !== 'write') s.readAcquisitions++;
        if (!e.try) this.granted(e.task, e.lock.id, s, step);
        let h = this.holds.get(e.task, e.lock.id);
        if (h === undefined) {
          h = [];
          this.holds.set(e.task, e.lock.id, h);
        }
        h.push({ key, step });
        return;
      }
      case 'lock.released': {
        const h = this.holds.get(e.task, e.lock.id);
        const x = h?.pop();
        if (x === undefined) return;
        if (h !== undefined && h.length === 0) this.holds.delete(e.task, e.lock.id);
        addTime(this.of(x.key).hold, step - x.step);
        return;
      }
      case 'wait.start': {
        const key = classKey(e.completion);
        this.of(key).completionWaits++;
        this.pending.set(e.task, e.completion.id, { key, step, waiting: false });
        return;
      }
      case 'wait.done':
        this.granted(e.task, e.completion.id, this.of(classKey(e.completion)), step);
        return;
      case 'complete':
        this.of(classKey(e.completion)).completes++;
        return;
      case 'task.start':
      case 'task.context':
      case 'task.end':
      case 'send':
      case 'lock.misuse':
      case 'lock.assert':
      case 'access':
      case 'alloc':
      case 'free':
      case 'use':
      case 'get':
      case 'put':
      case 'warn':
      case 'bug':
      case 'dma':
      case 'fn.patched':
        return;
      default: {
        const never: never = e;
        return never;
      }
    }
  }

  drain(): readonly Finding[] {
    return NO_FINDINGS;
  }

  /** The set-up's tasks have all ended (Checker.setupEnded): their empty tables go, so its snapshot does not keep them. */
  setupEnded(): void {
    this.pending.dropEmpty();
    this.holds.dropEmpty();
  }

  summary(): LockStatsSummary {
    // Checkers see whole steps, so between steps a request still pending is a
    // sleeping task (for good, if the run is over and deadlocked).
    const extra = new Map<string, number>();
    for (const p of this.pending.values()) {
      if (!p.waiting) extra.set(p.key, (extra.get(p.key) ?? 0) + 1);
    }
    const classes: Record<string, LockClassStats> = {};
    for (const key of [...this.stats.keys()].sort()) {
      const s = this.stats.get(key) as MutableStats;
      const more = extra.get(key) ?? 0;
      let stillWaiting = 0;
      if (!this.pending.empty) for (const p of this.pending.values()) if (p.key === key && p.waiting) stillWaiting++;
      classes[key] = {
        acquisitions: s.acquisitions,
        readAcquisitions: s.readAcquisitions,
        tryFailures: s.tryFailures,
        contentions: s.contentions + stillWaiting + more,
        wait: { ...s.wait },
        hold: { ...s.hold },
        maxWaiters: Math.max(s.maxWaiters, s.waiters + more),
        completionWaits: s.completionWaits,
        completes: s.completes,
      };
    }
    return { steps: this.lastStep + 1, classes };
  }

  toJSON(): LockStatsSummary {
    return this.summary();
  }

  private of(key: string): MutableStats {
    let s = this.stats.get(key);
    if (s === undefined) {
      s = { acquisitions: 0, readAcquisitions: 0, tryFailures: 0, contentions: 0, wait: time(), hold: time(), waiters: 0, maxWaiters: 0, completionWaits: 0, completes: 0 };
      this.stats.set(key, s);
    }
    return s;
  }

  /** A new step began: requests made in earlier steps and not granted are sleeping. */
  private crossStep(): void {
    // (every event of a new step comes here, and almost always nothing is pending)
    if (this.pending.empty) return;
    for (const p of this.pending.values()) {
      if (p.waiting) continue;
      p.waiting = true;
      const s = this.of(p.key);
      s.waiters++;
      if (s.waiters > s.maxWaiters) s.maxWaiters = s.waiters;
    }
  }

  private granted(task: TaskId, id: string, s: MutableStats, step: number): void {
    const p = this.pending.get(task, id);
    if (p === undefined) return;
    this.pending.delete(task, id);
    if (!p.waiting) return;
    s.waiters--;
    s.contentions++;
    addTime(s.wait, step - p.step);
  }
}


function mergeTime(a: TimeStats, b: TimeStats): TimeStats {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  return { count: a.count + b.count, total: a.total + b.total, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

/** Statistics of several executions (a run) as one summary: counts add, extremes combine. */
export function mergeLockStats(a: LockStatsSummary, b: LockStatsSummary): LockStatsSummary {
  const classes: Record<string, LockClassStats> = { ...a.classes };
  for (const [key, s] of Object.entries(b.classes)) {
    const t = classes[key];
    classes[key] = t === undefined ? s : {
      acquisitions: t.acquisitions + s.acquisitions,
      readAcquisitions: t.readAcquisitions + s.readAcquisitions,
      tryFailures: t.tryFailures + s.tryFailures,
      contentions: t.contentions + s.contentions,
      wait: mergeTime(t.wait, s.wait),
      hold: mergeTime(t.hold, s.hold),
      maxWaiters: Math.max(t.maxWaiters, s.maxWaiters),
      completionWaits: t.completionWaits + s.completionWaits,
      completes: t.completes + s.completes,
    };
  }
  const sorted: Record<string, LockClassStats> = {};
  for (const key of Object.keys(classes).sort()) sorted[key] = classes[key] as LockClassStats;
  return { steps: a.steps + b.steps, classes: sorted };
}

export const NO_LOCK_STATS: LockStatsSummary = { steps: 0, classes: {} };
