import type { TraceEvent } from '../../protocol/events.ts';
import type { TaskId } from '../../protocol/ids.ts';
import type { StepTouch } from './strategy.ts';

/** The whole object: conflicts with every field of it. */
const WHOLE = '*';

type Fields = Map<string, Set<string>>;

const add = (m: Fields, obj: string, field: string): void => {
  const f = m.get(obj);
  if (f === undefined) m.set(obj, new Set([field]));
  else f.add(field);
};

/**
 * Builds a step's `StepTouch` from what the runtime saw of it (runtime/
 * execution.ts). The model records every access to shared kernel state as
 * an event (`k.read`/`k.write`, alloc/free/get/put/use); test/dfs-touch
 * checks that a step which changes an actor's state recorded a write there.
 */
export class TouchBuilder {
  private readonly reads: Fields = new Map();
  private readonly writes: Fields = new Map();
  private readonly spawned: TaskId[] = [];

  /** The step took part in a lock's or completion's state (a lock manager step), or a wait queue's. */
  whole(key: string): this {
    add(this.writes, key, WHOLE);
    return this;
  }

  /** The step may have read anything of `key` (an actor's state as a whole). */
  readAll(key: string): this {
    add(this.reads, key, WHOLE);
    return this;
  }

  spawn(t: TaskId): void {
    this.spawned.push(t);
  }

  event(e: TraceEvent): void {
    switch (e.ev) {
      case 'access':
        if (e.walk === undefined) add(e.op === 'write' ? this.writes : this.reads, e.obj, e.field);
        // (a walk is a read of each object: protocol/events.ts)
        else for (const obj of e.walk.objs) add(this.reads, obj, e.field);
        break;
      case 'alloc':
      case 'free':
        add(this.writes, e.obj, WHOLE);
        break;
      case 'get':
      case 'put':
        // a reference count: two gets commute, but a put may free; kept simple
        add(this.writes, e.obj, '#ref');
        break;
      case 'use':
        add(this.reads, e.obj, WHOLE);
        break;
      default:
        break;
    }
  }

  done(): StepTouch {
    return { reads: this.reads, writes: this.writes, spawned: this.spawned };
  }
}

/** A footprint the runtime knows before the step runs (its actor, or on a lock manager its lock) as a touch. */
export function coarseTouch(where: string): StepTouch {
  return { reads: new Map(), writes: new Map([[where, new Set([WHOLE])]]), spawned: [] };
}

const overlap = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => {
  if (a.has(WHOLE) || b.has(WHOLE)) return true;
  const [small, big] = a.size <= b.size ? [a, b] : [b, a];
  for (const f of small) if (big.has(f)) return true;
  return false;
};

const writesInto = (w: ReadonlyMap<string, ReadonlySet<string>>, other: ReadonlyMap<string, ReadonlySet<string>>): boolean => {
  for (const [obj, fields] of w) {
    const o = other.get(obj);
    if (o !== undefined && overlap(fields, o)) return true;
  }
  return false;
};

/** Two steps are dependent when one writes a field (or the whole object) the other reads or writes. */
export function dependent(a: StepTouch, b: StepTouch): boolean {
  return writesInto(a.writes, b.writes) || writesInto(a.writes, b.reads) || writesInto(b.writes, a.reads);
}
