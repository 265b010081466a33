import type { HeldLock } from '../held-locks.ts';
import type { ObjId, TaskId } from '../../protocol/ids.ts';

/** Where something happened to an object: the task, its stack, the step, its locks. */
export interface Site {
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly step: number;
  readonly held: readonly HeldLock[];
}

/** One refcount change, for the history a refcount report prints. */
export interface RefOp {
  readonly op: 'alloc' | 'get' | 'put';
  /** The count after the operation. */
  readonly count: number;
  readonly at: Site;
}

/** A spawn message: the "work creation" KASAN prints as an auxiliary stack. */
export interface Spawn {
  readonly at: Site;
  readonly op: string;
  readonly to: string;
}

/** KASAN's access kinds (mm/kasan/report.c print_error_description: "Read of", "Write of", "Free of"). */
export type AccessKind = 'Read' | 'Write' | 'Free';

export type LifetimeHit =
  /**
   * Memory of a freed object touched again: `bug` is KASAN's bug type,
   * "slab-use-after-free" for a read or write, "double-free" for a second
   * free. `aux` is the spawn that started the using task, when it has one,
   * and whether that message was still in flight (sent, not yet delivered)
   * when the object was freed.
   */
  | {
      readonly what: 'use-after-free'; readonly bug: 'slab-use-after-free' | 'double-free';
      readonly obj: ObjId; readonly type: string; readonly access: AccessKind; readonly detail: string;
      readonly use: Site; readonly alloc: Site | null; readonly free: Site;
      readonly aux: { readonly spawn: Spawn; readonly inFlight: boolean } | null;
    }
  /** A put took the count below zero (lib/refcount.c REFCOUNT_SUB_UAF). */
  | {
      readonly what: 'refcount-underflow'; readonly obj: ObjId; readonly type: string; readonly count: number;
      readonly put: Site; readonly alloc: Site | null; readonly free: Site | null; readonly history: readonly RefOp[];
    }
  /** At the end of the execution the object was neither freed nor referenced by a live task. */
  | {
      readonly what: 'refcount-leak'; readonly obj: ObjId; readonly type: string; readonly count: number;
      readonly alloc: Site; readonly history: readonly RefOp[];
    };

/** How many refcount operations an object's history keeps (the oldest are dropped, except the alloc). */
const HISTORY = 16;

/** The life of one object as the event stream shows it. */
export class ObjectLife {
  readonly obj: ObjId;
  readonly type: string;
  /** Null for an object that existed without an `alloc` event (static topology). */
  readonly alloc: Site | null;
  free: Site | null = null;
  /** The refcount after the last get/put (1 after alloc, as runtime/context.ts sets it). */
  count: number;
  private readonly ops: RefOp[] = [];

  constructor(obj: ObjId, type: string, alloc: Site | null) {
    this.obj = obj;
    this.type = type;
    this.alloc = alloc;
    this.count = alloc === null ? 0 : 1;
    if (alloc !== null) this.ops.push(Object.freeze({ op: 'alloc', count: 1, at: alloc }));
  }

  record(op: RefOp): void {
    this.count = op.count;
    // frozen: never changed again, so a set-up snapshot shares it (runtime/snapshot.ts)
    this.ops.push(Object.freeze(op));
    if (this.ops.length > HISTORY) this.ops.splice(this.ops[0]?.op === 'alloc' ? 1 : 0, 1);
  }

  get history(): readonly RefOp[] {
    return this.ops;
  }
}
