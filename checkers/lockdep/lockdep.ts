import type { CircularBug, CircularHow, LockdepBug, LockSide } from './bugs.ts';
import { CONCURRENT, DependencyGraph, depType } from './graph.ts';
import type { Edge, EdgeTrace } from './graph.ts';
import { dependencyDot, frameOf, printLockdepBug } from './print.ts';
import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks, describeHeld, withoutTableEvents } from '../held-locks.ts';
import type { HeldLock } from '../held-locks.ts';
import { siteOf } from '../sites.ts';
import { WRONG_KIND } from '../../protocol/locks.ts';
import { classKey, lockOwner } from '../../protocol/lock-classes.ts';
import type { KnownDependency } from '../../protocol/lock-classes.ts';
import type { EventName, LockMode, LockRef, TraceEvent } from '../../protocol/events.ts';
import type { Finding, FindingKind, TaskSnapshot } from '../../protocol/findings.ts';
import type { ActorId, LockId, ObjId, TaskId } from '../../protocol/ids.ts';

/**
 * lockdep for the model (kernel/locking/lockdep.c), over the event stream.
 *
 * What it checks, and the kernel function each rule comes from:
 * - **Dependencies.** Every blocking acquisition of lock class B while a task
 *   holds A adds the edge A → B (check_prevs_add: from the top of the held
 *   stack down to and including the first lock not taken by trylock). A new
 *   edge that closes a cycle is a `lock-order-inversion` (check_noncircular),
 *   reported even when the run did not deadlock: two tasks that run one
 *   after the other, taking A→B and then B→A, are flagged.
 * - **Read locks** follow lockdep's recursive-read rules (see graph.ts):
 *   down_read is a non-recursive reader (it queues behind waiting writers,
 *   so read-read cycles of rwsems are reported), a recursive reader
 *   (`down_read_recursive`, rwlock_t-style) does not close a cycle through a
 *   reader, and may nest inside a read of its own class.
 * - **Trylock** adds no edge to the lock it takes (validate_chain() skips
 *   trylocks: they cannot block), but a lock taken by a successful trylock
 *   is held like any other and edges from it to later locks count.
 * - **Completions** (cross-release, as lockdep had in 4.14–4.15, with a
 *   narrower commit than its history): waiting for completion C while
 *   holding L adds L → C, as if C were taken and released at once.
 *   complete(C) adds C → X only for locks X that stand between the completer
 *   and its complete() while somebody waits on C:
 *   - X held by the completer at complete(C): it took X before complete()
 *     and still has it, so a waiter holding X across the wait would keep it
 *     from getting there, in any schedule (deferred until some other task
 *     waits on this completion instance, see commit());
 *   - X requested (blocking) by the completer after another task began a
 *     wait on C that is still going on: the completer needed X while the
 *     waiter held what it holds across the wait.
 *   A lock the completer took and released before the wait began adds
 *   nothing: it is not between the waiter and the complete (the earlier,
 *   finished call that took it — a VFIO_GROUP_GET_DEVICE_FD under
 *   dev_set->lock before the fd's close completes the unregistration — was
 *   over before anyone waited). Upstream removed cross-release (2017,
 *   e966eaeeb623) for false positives of the whole-history kind; see
 *   docs/checkers.md for why this rule keeps only real dependencies.
 * - **Single-threaded contexts** (protocol/contexts.ts): a dependency
 *   remembers which single-threaded context made it (a pciehp IRQ thread);
 *   a cycle all of whose dependencies one such context made, and nothing
 *   else, is not reported: its runs never overlap, so it never holds A
 *   waiting for B while it holds B waiting for A. lockdep cannot tell.
 * - **Subclasses**: classes are keyed by (class, subclass), as lockdep keys
 *   lock_class by subclass: parent→child `device_lock` is a recursive-locking
 *   false positive unless the child is taken with a nesting annotation
 *   (mutex_lock_nested), exactly as in the kernel.
 * - **Misuse**: recursive locking of a class (check_deadlock →
 *   print_deadlock_bug, reported at request time), unlock of an unheld lock
 *   or of another task's lock (print_unlock_imbalance_bug, from the lock
 *   manager's `lock.misuse`), locks held at task end (lockdep_sys_exit for a
 *   root task returning to its starter, debug_check_no_locks_held for a
 *   spawned one), an object freed while a lock inside it is held
 *   (debug_check_no_locks_freed; a lock is inside object O when its id is
 *   "O->member", see protocol/lock-classes.ts: lockOwner), and failed
 *   lockdep_assert_held()/lockdep_assert_not_held() (`assert-held`).
 *
 * Unlike the kernel it does not switch itself off after the first report:
 * each finding is reported once per signature.
 */

export interface LockdepOptions {
  /**
   * Lock classes not validated (lockdep_set_novalidate_class): no edges to or
   * from them and no recursion check. The kernel does this to every
   * `device_lock`; iommu-lab validates it unless told to behave like the
   * kernel here.
   */
  readonly novalidate?: readonly string[];
  /**
   * Dependencies to preload as if already seen, e.g. CANONICAL_ORDER from
   * protocol/lock-classes.ts (as a scenario's rules changed it:
   * checkers/lockdep/preload.ts): a model that takes those classes the other
   * way round is then reported even if it never runs the kernel's own order.
   */
  readonly known?: readonly KnownDependency[];
  /** The held-lock table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly held?: HeldLocks;
}

/** A complete() whose edges wait for a waiter of the same completion: the completer's history as it was then. */
interface DeferredCommit {
  readonly task: TaskId;
  readonly c: LockRef;
  readonly stack: readonly string[];
  readonly step: number;
  readonly taken: readonly (readonly [string, Taken])[];
  readonly held: readonly HeldLock[];
}

/** A class a task took, kept for the cross-release commit at complete(). */
interface Taken {
  readonly lock: LockRef;
  mode: LockMode;
  readonly stack: readonly string[];
  /** The step of the (latest) blocking request. */
  step: number;
}

const KERNEL_SITE = 'kernel';

/** What `onEvent` acts on (Checker.eventKinds): the rest (accesses, sends, refcounts, DMA) changes nothing here. */
const LOCKDEP_EVENTS: readonly EventName[] = Object.freeze([
  'task.start', 'task.end', 'task.context', 'lock.request', 'lock.acquired', 'lock.released', 'lock.misuse', 'lock.assert',
  'wait.start', 'wait.done', 'complete', 'free',
]);
/** With a shared held-lock table (Checker.heldLocks): the lock acquisitions and releases only kept that table. */
const LOCKDEP_EVENTS_SHARED = withoutTableEvents(LOCKDEP_EVENTS);

export class Lockdep implements Checker {
  readonly name = 'lockdep';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  readonly eventKinds: readonly EventName[];
  readonly heldLocks?: HeldLocks;
  private readonly graph = new DependencyGraph();
  private readonly held: HeldLocks;
  /** Class keys that are completions. */
  private readonly completionClasses = new Set<string>();
  /** Per task, every class it requested (blocking), the latest request each: the cross-release window is cut from it. */
  private readonly history = new Map<TaskId, Map<string, Taken>>();
  /** Per completion instance, the tasks that have waited on it. */
  private readonly waiters = new Map<LockId, Set<TaskId>>();
  /** Per completion instance, the tasks waiting on it now, and the step each began. */
  private readonly waiting = new Map<LockId, Map<TaskId, number>>();
  /** The single-threaded context each task runs as, if any (protocol/contexts.ts). */
  private readonly contexts = new Map<TaskId, string>();
  /** Per completion instance, complete() calls not committed yet because no other task has waited on it (see commit). */
  private readonly deferred = new Map<LockId, DeferredCommit[]>();
  /** Tasks the program started (they return to "user space"); the others were spawned. */
  private readonly roots = new Set<TaskId>();
  private readonly novalidate: ReadonlySet<string>;
  private readonly reported = new Set<string>();
  private readonly found: LockdepBug[] = [];
  private readonly pending = new FindingQueue();

  constructor(opts: LockdepOptions = {}) {
    this.held = opts.held ?? new HeldLocks();
    if (this.held.shared) this.heldLocks = this.held;
    this.eventKinds = this.held.shared ? LOCKDEP_EVENTS_SHARED : LOCKDEP_EVENTS;
    this.novalidate = new Set(opts.novalidate ?? []);
    for (const d of opts.known ?? []) {
      if (d.preload === false) continue;
      const trace: EdgeTrace = { task: null, stack: [d.via], step: -1, via: 'known', held: [], note: declaredNote(d) };
      this.graph.add(d.outer, d.inner, depType(d.outerRead === true ? 'read' : 'write', d.innerRead === true ? 'read' : 'write'), trace, d.context ?? CONCURRENT);
    }
  }

  onEvent(e: TraceEvent, step: number): void {
    switch (e.ev) {
      case 'task.start':
        if (e.parent === null) this.roots.add(e.task);
        return;
      case 'task.end':
        this.taskEnd(e.task, e.stack);
        return;
      case 'task.context':
        if (e.context === null) this.contexts.delete(e.task);
        else this.contexts.set(e.task, e.context);
        return;
      case 'lock.request':
        // Trylocks are not validated: they cannot block (validate_chain()).
        if (!e.try) {
          this.acquire(e.task, e.lock, e.mode, e.stack, step);
          this.remember(e.task, e.lock, e.mode, e.stack, step);
        }
        return;
      case 'lock.acquired':
        this.held.onEvent(e, step);
        return;
      case 'lock.released':
        this.held.onEvent(e, step);
        return;
      case 'lock.misuse':
        this.misuse(e.task, e.lock, e.what, e.holder, e.stack);
        return;
      case 'lock.assert':
        if (!e.ok) this.report({ type: 'assert', task: e.task, stack: e.stack, lock: e.lock, expectHeld: e.held, held: [...this.held.of(e.task)] });
        return;
      case 'wait.start':
        this.wait(e.task, e.completion, e.stack, step);
        return;
      case 'complete':
        this.commit(e.task, e.completion, e.stack, step);
        return;
      case 'free':
        this.freed(e.task, e.obj, e.stack);
        return;
      case 'wait.done':
        this.waiting.get(e.completion.id)?.delete(e.task);
        return;
      case 'send':
      case 'access':
      case 'alloc':
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

  /** The set-up has ended (Checker.setupEnded): its dependencies are frozen, shared by its snapshot's restores (DependencyGraph.freeze). */
  setupEnded(): void {
    this.graph.freeze();
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }

  /** Every problem found so far, as data (one per signature). */
  bugs(): readonly LockdepBug[] {
    return this.found;
  }

  /** The dependency graph's edges, in the order they were first seen. */
  dependencies(): readonly Edge[] {
    return [...this.graph.edges()];
  }

  /** The dependency graph as Graphviz DOT. */
  dot(): string {
    return dependencyDot(this.graph.edges(), this.completionClasses);
  }

  // ---- validation -------------------------------------------------------------------

  private validated(l: LockRef): boolean {
    return !this.novalidate.has(l.cls);
  }

  /** lock_acquire() → validate_chain(): check_deadlock(), then check_prevs_add(). */
  private acquire(task: TaskId, lock: LockRef, mode: LockMode, stack: readonly string[], step: number): void {
    if (!this.validated(lock)) return;
    const key = classKey(lock);
    const held = this.held.of(task);
    const next: LockSide = { key, lock, mode, completion: false, stack };
    for (const h of held) {
      if (!this.validated(h.lock) || classKey(h.lock) !== key) continue;
      // read_lock(A) + read_lock(A) recursion is allowed for recursive readers.
      if (mode === 'read-recursive' && h.mode !== 'write') continue;
      this.report({ type: 'recursive', task, stack, next, prev: h, held: [...held] });
      return;
    }
    this.addPrevs(task, held, next, stack, step, 'acquire');
  }

  /** wait_for_completion() while holding locks: each is an edge to the completion class. */
  private wait(task: TaskId, c: LockRef, stack: readonly string[], step: number): void {
    const key = classKey(c);
    this.completionClasses.add(key);
    if (!this.validated(c)) return;
    let ws = this.waiters.get(c.id);
    if (ws === undefined) {
      ws = new Set();
      this.waiters.set(c.id, ws);
    }
    ws.add(task);
    let now = this.waiting.get(c.id);
    if (now === undefined) {
      now = new Map();
      this.waiting.set(c.id, now);
    }
    now.set(task, step);
    // completes of this very completion by other tasks now have a waiter to hold up
    const pending = this.deferred.get(c.id);
    if (pending !== undefined) {
      const mine = pending.filter((d) => d.task === task);
      if (mine.length > 0) this.deferred.set(c.id, mine);
      else this.deferred.delete(c.id);
      for (const d of pending) if (d.task !== task) this.commitEdges(d);
    }
    const next: LockSide = { key, lock: c, mode: 'write', completion: true, stack };
    this.addPrevs(task, this.held.of(task), next, stack, step, 'wait');
  }

  /**
   * check_prevs_add(): an edge from the top held lock, and on down through
   * locks taken by trylock to the first one that was not (the others are
   * already connected to it).
   */
  private addPrevs(task: TaskId, held: readonly HeldLock[], next: LockSide, stack: readonly string[], step: number, how: CircularHow): void {
    for (let i = held.length - 1; i >= 0; i--) {
      const h = held[i] as HeldLock;
      if (!this.validated(h.lock)) continue;
      const from = classKey(h.lock);
      // A nested recursive read of the class itself adds nothing (check_deadlock allowed it).
      if (from !== next.key) {
        const prev: LockSide = { key: from, lock: h.lock, mode: h.mode, completion: false, stack: h.stack };
        this.addEdge(prev, next, { task, stack, step, via: 'lock', note: null }, { how, task, stack, held }, this.contexts.get(task) ?? CONCURRENT);
      }
      if (!h.try) break;
    }
  }

  /**
   * check_prev_add(): add prev → next; if it closes a strong cycle, report
   * the cycle. `trace` without its held locks: they are printed (describeHeld)
   * only for a dependency not known yet, not at every acquisition.
   */
  private addEdge(prev: LockSide, next: LockSide, trace: Omit<EdgeTrace, 'held'>, ctx: { readonly how: CircularHow; readonly task: TaskId; readonly stack: readonly string[]; readonly held: readonly HeldLock[] }, by: string): void {
    const t = depType(prev.mode, next.mode);
    // Known, and by this context (or by a concurrent task already): nothing new to check.
    if (this.graph.covers(prev.key, next.key, t, by, prev.lock.id, next.lock.id)) return;
    const inst = { from: prev.lock.id, to: next.lock.id };
    const path = this.graph.findCycle(prev.key, next.key, t, by === CONCURRENT ? null : by, inst);
    this.graph.add(prev.key, next.key, t, { task: trace.task, stack: trace.stack, step: trace.step, via: trace.via, held: ctx.held.map(describeHeld), note: trace.note }, by, inst);
    if (path === null) return;
    const bug: CircularBug = {
      type: 'circular', how: ctx.how, task: ctx.task, stack: ctx.stack,
      src: next, tgt: prev, path, held: [...ctx.held], completions: new Set(this.completionClasses),
    };
    this.report(bug);
  }

  /** Cross-release history: the latest blocking request of each class by a task (a non-recursive take wins over a recursive one). */
  private remember(task: TaskId, lock: LockRef, mode: LockMode, stack: readonly string[], step: number): void {
    if (lock.kind === 'completion') return;
    let h = this.history.get(task);
    if (h === undefined) {
      h = new Map();
      this.history.set(task, h);
    }
    const key = classKey(lock);
    const t = h.get(key);
    if (t === undefined) {
      h.set(key, { lock, mode, stack, step });
    } else {
      t.step = step;
      if (t.mode === 'read-recursive' && mode !== 'read-recursive') t.mode = mode;
    }
  }

  /**
   * complete(C): the completer needed every lock it took before; each is an
   * edge C → X. Only a waiter of this same completion can be held up by
   * the completer, and a task cannot be held up by itself: so the edges
   * count once some other task waits (has waited, or later waits) on this
   * completion instance. Without that, a task that completes its own
   * completion and then waits on it — vfio_unregister_group_dev() dropping
   * the last registration reference under device_lock — would close a
   * cycle with every other device's unregistration through the shared
   * classes, though no task ever waits for it.
   */
  private commit(task: TaskId, c: LockRef, stack: readonly string[], step: number): void {
    const key = classKey(c);
    this.completionClasses.add(key);
    if (!this.validated(c)) return;
    const held = this.held.of(task);
    const taken = new Map<string, Taken>();
    // what the completer holds at complete(): schedule-independent
    for (const h of held) {
      const k = classKey(h.lock);
      if (!taken.has(k)) taken.set(k, { lock: h.lock, mode: h.mode, stack: h.stack, step: h.step });
    }
    // what it asked for while another task was already waiting on this completion
    let since = Infinity;
    for (const [w, at] of this.waiting.get(c.id) ?? []) if (w !== task && at < since) since = at;
    if (since !== Infinity) {
      for (const [k, t] of this.history.get(task) ?? []) if (t.step >= since && !taken.has(k)) taken.set(k, { ...t });
    }
    if (taken.size === 0) return;
    const d: DeferredCommit = { task, c, stack, step, taken: [...taken], held: [...held] };
    if ([...(this.waiters.get(c.id) ?? [])].some((w) => w !== task)) {
      this.commitEdges(d);
      return;
    }
    let list = this.deferred.get(c.id);
    if (list === undefined) {
      list = [];
      this.deferred.set(c.id, list);
    }
    list.push(d);
  }

  private commitEdges({ task, c, stack, step, taken, held }: DeferredCommit): void {
    const key = classKey(c);
    const tgt: LockSide = { key, lock: c, mode: 'write', completion: true, stack };
    for (const [xkey, x] of taken) {
      if (!this.validated(x.lock)) continue;
      const src: LockSide = { key: xkey, lock: x.lock, mode: x.mode, completion: false, stack: x.stack };
      const trace = { task, stack: x.stack, step, via: 'complete', note: `... then complete(${key}) at: ${frameOf(stack)}` } as const;
      this.addEdge(tgt, src, trace, { how: 'complete', task, stack, held }, this.contexts.get(task) ?? CONCURRENT);
    }
  }

  // ---- misuse -------------------------------------------------------------------------

  private misuse(task: TaskId, lock: LockRef, what: string, holder: TaskId | null, stack: readonly string[]): void {
    const held = [...this.held.of(task)];
    if (what.startsWith(WRONG_KIND)) {
      this.report({ type: 'misuse', task, stack, lock, what: what.slice(WRONG_KIND.length).trim(), held });
    } else {
      this.report({ type: 'unlock', task, stack, lock, what, holder, held });
    }
  }

  private taskEnd(task: TaskId, stack: readonly string[]): void {
    const held = this.held.of(task);
    if (held.length > 0) this.report({ type: 'held-at-exit', task, stack, toUser: this.roots.has(task), held: [...held] });
    this.history.delete(task);
    this.contexts.delete(task);
  }

  private freed(task: TaskId, obj: ObjId, stack: readonly string[]): void {
    for (const [holder, h] of this.held.all()) {
      if (lockOwner(h.lock.id) !== obj) continue;
      this.report({ type: 'held-lock-freed', task, stack, obj, holder, lock: h, held: [...this.held.of(holder)] });
    }
  }

  // ---- findings -------------------------------------------------------------------------

  private report(b: LockdepBug): void {
    // Signature first: a repeat is dropped before its report is printed.
    const sig = signatureOf(b, siteOfBug(b));
    if (this.reported.has(sig)) return;
    this.reported.add(sig);
    this.found.push(b);
    this.pending.push(toFinding(b));
  }
}


/** The line a preloaded edge prints under its source in a splat (and its DOT label): declared, not seen. */
export function declaredNote(d: KnownDependency): string {
  return `(declared order, ${d.source ?? 'docs/kernel-facts.md §1.2'}${d.context !== undefined ? `; made only by ${d.context}` : ''})`;
}

const uniqSorted = (xs: readonly string[]): string[] => [...new Set(xs)].sort();

/** "actor.handler" of an edge: where the dependency was taken. */
function edgeSite(e: Edge): string {
  return e.trace.via === 'known' ? KERNEL_SITE : siteOf(e.trace.stack);
}

function kindOf(b: LockdepBug): FindingKind {
  switch (b.type) {
    case 'circular':
      return 'lock-order-inversion';
    case 'recursive':
      return 'recursive-locking';
    case 'unlock':
    case 'misuse':
    case 'held-at-exit':
    case 'held-lock-freed':
      return 'lock-misuse';
    case 'assert':
      return 'assert-held';
  }
}

/**
 * The signature: stable across runs, seeds and hosts. Kind, a sub-kind for
 * misuse, the sorted lock classes and the sorted actor.handler sites; never
 * task ids, lock instance ids or step numbers.
 */
function signatureOf(b: LockdepBug, site: string): string {
  switch (b.type) {
    case 'circular': {
      const classes = uniqSorted([b.src.key, ...b.path.map((e) => e.to)]);
      const sites = uniqSorted([site, ...b.path.map(edgeSite)]);
      return `lock-order-inversion|${classes.join(',')}|${sites.join(',')}`;
    }
    case 'recursive':
      return `recursive-locking|${b.next.key}|${uniqSorted([site, siteOf(b.prev.stack)]).join(',')}`;
    case 'unlock':
      return `lock-misuse|bad-unlock|${classKey(b.lock)}|${site}`;
    case 'misuse':
      return `lock-misuse|wrong-kind|${classKey(b.lock)}|${site}`;
    case 'held-at-exit':
      return `lock-misuse|held-at-exit|${uniqSorted(b.held.map((h) => classKey(h.lock))).join(',')}|${uniqSorted(b.held.map((h) => siteOf(h.stack))).join(',')}`;
    case 'held-lock-freed':
      return `lock-misuse|held-lock-freed|${classKey(b.lock.lock)}|${site}`;
    case 'assert':
      return `assert-held|${b.expectHeld ? 'held' : 'not-held'}|${classKey(b.lock)}|${site}`;
  }
}

/** Where a report says the problem "is": the task's own site, or for a lock held at exit, where it was taken. */
function siteOfBug(b: LockdepBug): string {
  if (b.type === 'held-at-exit') {
    const first = b.held[0];
    return first === undefined ? siteOf(b.stack) : siteOf(first.stack);
  }
  return siteOf(b.stack);
}

function snapshots(b: LockdepBug): TaskSnapshot[] {
  const me: TaskSnapshot = {
    task: b.task,
    stack: b.stack,
    held: b.held.map(describeHeld),
    waitsFor: b.type === 'circular' && b.how !== 'complete' ? `${b.src.completion ? 'completion' : 'lock'} ${b.src.lock.id} (${b.src.key})` : null,
  };
  const out: TaskSnapshot[] = [me];
  if (b.type === 'circular') {
    const seen = new Set<string>([b.task]);
    for (const e of b.path) {
      const t = e.trace.task;
      if (t === null || seen.has(t)) continue;
      seen.add(t);
      out.push({ task: t, stack: e.trace.stack, held: e.trace.held, waitsFor: null });
    }
  } else if (b.type === 'held-lock-freed' && b.holder !== b.task) {
    out.push({ task: b.holder, stack: b.lock.stack, held: b.held.map(describeHeld), waitsFor: null });
  }
  return out;
}

export function toFinding(b: LockdepBug): Finding {
  const kind = kindOf(b);
  const site = siteOfBug(b);
  const dot = site.indexOf('.');
  return {
    kind,
    title: `${kind} in ${site}`,
    signature: signatureOf(b, site),
    actor: (dot > 0 ? site.slice(0, dot) : site) as ActorId,
    handler: dot > 0 ? site.slice(dot + 1) : null,
    tasks: snapshots(b),
    report: printLockdepBug(b),
  };
}
