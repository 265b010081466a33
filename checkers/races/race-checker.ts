import { raceFinding, raceSignature, unguardedFinding, unguardedSignature } from './findings.ts';
import { HappensBefore } from './happens-before.ts';
import { checkLockset } from './lockset.ts';
import type { LocksetVerdict } from './lockset.ts';
import { Shadow } from './shadow.ts';
import type { Access } from './shadow.ts';
import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks } from '../held-locks.ts';
import type { HeldLock } from '../held-locks.ts';
import { ObjectTypes } from '../lifetime/object-types.ts';
import type { AccessEvent, EventName, TraceEvent, WalkEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';
import type { ObjId } from '../../protocol/ids.ts';

/**
 * What `onEvent` acts on (Checker.eventKinds): accesses, the lifetime of their
 * objects, and what orders tasks (happens-before.ts: spawns, locks,
 * completions). A send of a call or reply orders nothing (a call chain is
 * program order), but a spawn's is a `send` too.
 */
const RACE_EVENTS: readonly EventName[] = Object.freeze(['access', 'alloc', 'free', 'task.start', 'send', 'lock.acquired', 'lock.released', 'complete', 'wait.done']);

export interface RaceCheckerOptions {
  /** The lockset rule (`unguarded-access`). Default on. */
  readonly lockset?: boolean;
  /** The happens-before check (`data-race`, lost updates). Default on. */
  readonly happensBefore?: boolean;
  /** The held-lock table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly held?: HeldLocks;
  /** The object-type table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly types?: ObjectTypes;
}

/**
 * The races checker (DESIGN.md §5): `unguarded-access` when an access names
 * a guard the task does not hold, `data-race` when two conflicting accesses
 * are not ordered by happens-before (vector clocks over spawns, locks and
 * completions; see happens-before.ts), including lost updates of a
 * read-modify-write (see shadow.ts). One instance per execution; it keeps
 * its own held-lock table and clocks, so the same code runs over a saved
 * trace.
 */
export class RaceChecker implements Checker {
  readonly name = 'races';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  readonly eventKinds = RACE_EVENTS;
  readonly spawnsOnly = true;
  private readonly lockset: boolean;
  private readonly happensBefore: boolean;
  private readonly held: HeldLocks;
  private readonly hb = new HappensBefore();
  private readonly types: ObjectTypes;
  private readonly shadow = new Shadow();
  private readonly pending = new FindingQueue();
  private readonly seen = new Set<string>();
  /**
   * Freeze access records: while a set-up runs, so that its snapshot and
   * every restore share them (runtime/snapshot.ts). After it (setupEnded),
   * no snapshot is taken of what follows, and a freeze per access was a
   * tenth of this checker's cost on a bench schedule (issue 19).
   */
  private seal = true;

  constructor(opts: RaceCheckerOptions = {}) {
    this.lockset = opts.lockset ?? true;
    this.happensBefore = opts.happensBefore ?? true;
    this.held = opts.held ?? new HeldLocks();
    this.types = opts.types ?? new ObjectTypes();
  }

  onEvent(e: TraceEvent, step: number): void {
    // Clocks and held locks first: an access is judged by what happened before it.
    this.held.onEvent(e, step);
    this.hb.onEvent(e);
    this.types.onEvent(e);
    switch (e.ev) {
      case 'access': {
        const held = this.held.snapshotOf(e.task);
        this.accessed(e, e.obj, e.value, e.old, step, this.hb.epoch(e.task), held, this.verdict(e, held));
        return;
      }
      case 'alloc':
      case 'free':
        // a new object, or memory that is gone: old accesses say nothing about what comes next
        this.shadow.forget(e.obj);
        return;
      case 'task.start':
      case 'task.context':
      case 'task.end':
      case 'send':
      case 'lock.request':
      case 'lock.acquired':
      case 'lock.released':
      case 'lock.misuse':
      case 'lock.assert':
      case 'wait.start':
      case 'wait.done':
      case 'complete':
      case 'use':
      case 'get':
      case 'put':
      case 'warn':
      case 'bug':
      case 'dma':
      case 'fn.patched':
        return;
      default:
        unreachable(e);
    }
  }

  /**
   * A walk's reads (Checker.onWalk): what `onEvent` makes of each, without
   * an event per object. Nothing between two of them changes the task's
   * clock or held locks, so its epoch, held locks and lockset verdict are
   * worked out once.
   */
  onWalk(e: WalkEvent, step: number): void {
    const held = this.held.snapshotOf(e.task);
    const epoch = this.hb.epoch(e.task);
    const verdict = this.verdict(e, held);
    const { objs, values } = e.walk;
    for (let i = 0; i < objs.length; i++) this.accessed(e, objs[i] as ObjId, values[i], undefined, step, epoch, held, verdict);
  }

  /** The lockset rule's verdict on `e` made with `held` ('ok' with the rule off). */
  private verdict(e: AccessEvent, held: readonly HeldLock[]): LocksetVerdict {
    return this.lockset ? checkLockset(e.op, e.guard, e.lockless, held) : 'ok';
  }

  /** An access of `obj` (`e`: the access, or the walk it is one read of), with the task's epoch and held locks now. */
  private accessed(e: AccessEvent, obj: ObjId, value: unknown, old: unknown, step: number, epoch: number, held: readonly HeldLock[], verdict: LocksetVerdict): void {
    // never changed again: frozen during a set-up, so its snapshot shares it (`seal`)
    const a: Access = { task: e.task, epoch, op: e.op, lockless: e.lockless, obj, field: e.field, stack: e.stack, value, old, step, held };
    if (this.seal) Object.freeze(a);
    if (verdict !== 'ok' && e.guard !== null) {
      const hit = { access: a, guard: e.guard, verdict };
      const typeOf = (o: ObjId): string => this.types.of(o);
      if (this.fresh(unguardedSignature(hit, typeOf))) this.pending.push(unguardedFinding(hit, typeOf));
    }
    if (this.happensBefore) {
      for (const hit of this.shadow.access(a, this.hb)) {
        const typeOf = (o: ObjId): string => this.types.of(o);
        if (this.fresh(raceSignature(hit, typeOf))) this.pending.push(raceFinding(hit, typeOf));
      }
    }
  }

  /** The set-up's tasks have all ended: their clocks and open read-modify-writes go (Checker.setupEnded). */
  setupEnded(): void {
    this.hb.tasksEnded();
    this.shadow.tasksEnded();
    this.seal = false;
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }

  /** End of the execution: races are reported as they happen, nothing is left to decide. */
  finish(): void {}

  /** True the first time a signature is seen: a hot race builds its report once. */
  private fresh(signature: string): boolean {
    if (this.seen.has(signature)) return false;
    this.seen.add(signature);
    return true;
  }
}


function unreachable(e: never): never {
  throw new Error(`race checker: unhandled event ${JSON.stringify(e)}`);
}
