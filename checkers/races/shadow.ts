import type { HappensBefore } from './happens-before.ts';
import type { HeldLock } from '../held-locks.ts';
import type { ObjId, TaskId } from '../../protocol/ids.ts';

/** One field access as the race check remembers it. */
export interface Access {
  readonly task: TaskId;
  /** The task's own clock entry at the access (FastTrack epoch). */
  readonly epoch: number;
  readonly op: 'read' | 'write';
  /** Marked access: READ_ONCE/WRITE_ONCE, `k.read/k.write(..., { lockless: true })`. */
  readonly lockless: boolean;
  readonly obj: ObjId;
  readonly field: string;
  readonly stack: readonly string[];
  readonly value: unknown;
  /** For a write, the value it replaced. */
  readonly old: unknown;
  readonly step: number;
  /** The task's held locks at the access, for the report. */
  readonly held: readonly HeldLock[];
}

/**
 * What the check found at one access.
 * - `race`: `prev` and `cur` conflict (same field, at least one write,
 *   different tasks, not both marked) and neither happens before the other.
 * - `lost-update`: `read` and `write` are one task's read-modify-write of the
 *   field; `other` is another task's write that came between them in the
 *   trace and raced with the read, so `write` stores a value computed without
 *   seeing `other`'s and undoes it (seed 003: the dev_iommu bitfield word).
 *   "Read-modify-write" is inferred: a task's last read of the field and its
 *   next write of it, with no read in between. A write that does not depend
 *   on the earlier read is reported the same way; it is a race either way.
 */
export type RaceHit =
  | { readonly what: 'race'; readonly prev: Access; readonly cur: Access }
  | { readonly what: 'lost-update'; readonly read: Access; readonly other: Access; readonly write: Access };

/** The shadow state of one (object, field). */
interface Location {
  lastWrite: Access | null;
  /**
   * Each task's last read. Earlier reads of a task are covered by program
   * order. A set-up's (frozen, tasksEnded) is shared by a schedule's copy of
   * the location until the schedule reads the field (`access`).
   */
  reads: Map<TaskId, Access>;
  /**
   * The tasks whose last read (in `reads`) is not yet followed by a write of
   * theirs: open read-modify-writes (null while there are none). A list of
   * tasks, not a Map of reads: it was a Map per location a schedule first
   * reads, of one or two entries that `reads` holds already (issue 19).
   */
  open: TaskId[] | null;
  /**
   * For an open read-modify-write, the first racing write of another task
   * since its read. Null while there is none (almost always: a set-up
   * snapshot keeps one per location, and a restore copied them all).
   */
  overwritten: Map<TaskId, Access> | null;
}

/**
 * Per-field access history and the happens-before race check (FastTrack's
 * shape: one last write, one last read per task). The last write suffices
 * for write-write checks: an older write either races with the last one
 * (reported then) or happens before it, and so before anything the last
 * write happens before.
 *
 * Marked accesses follow KCSAN's rule (Documentation/dev-tools/kcsan.rst,
 * "Data Races"): two accesses race only if at least one is a plain access;
 * a READ_ONCE racing a WRITE_ONCE is not reported, a READ_ONCE racing a plain
 * write is. So an intentional lockless read is exempt from the lockset rule
 * but still feeds this check. A lost update needs the same: a read-modify-
 * write made only of marked accesses racing another marked one is not
 * reported either (use an atomic RMW, which the model does not have yet).
 */
export class Shadow {
  private readonly objects = new Map<ObjId, Map<string, Location>>();

  /** Records `a` and returns the races it completes. */
  access(a: Access, hb: HappensBefore): readonly RaceHit[] {
    const loc = this.location(a.obj, a.field);
    if (a.op === 'read') {
      const w = loc.lastWrite;
      let reads = loc.reads;
      if (Object.isFrozen(reads)) {
        // the set-up's reads (tasksEnded): this execution's own copy, at its first read of the field
        const own = new Map<TaskId, Access>();
        reads.forEach((r, t) => own.set(t, r));
        loc.reads = reads = own;
      }
      reads.set(a.task, a);
      if (loc.open === null) loc.open = [a.task];
      else if (!loc.open.includes(a.task)) loc.open.push(a.task);
      // a fresh read sees the other write: a later write of this task no longer loses it
      if (loc.overwritten !== null) loc.overwritten.delete(a.task);
      // (no array per access: most accesses race with nothing)
      return w !== null && races(w, a, hb) ? [{ what: 'race', prev: w, cur: a }] : NO_HITS;
    }
    const hits: RaceHit[] = [];

    let lostTo: Access | null = null;
    const open = loc.open;
    const read = open !== null && open.includes(a.task) ? loc.reads.get(a.task) : undefined;
    const other = loc.overwritten?.get(a.task);
    if (read !== undefined && other !== undefined) {
      hits.push({ what: 'lost-update', read, other, write: a });
      lostTo = other;
    }
    const w = loc.lastWrite;
    if (w !== null && w !== lostTo && races(w, a, hb)) hits.push({ what: 'race', prev: w, cur: a });
    for (const [t, r] of loc.reads) {
      if (t === a.task || !races(r, a, hb)) continue;
      hits.push({ what: 'race', prev: r, cur: a });
      // (an open task's read is its last read, which `reads` holds: r)
      if (open !== null && open.includes(t) && loc.overwritten?.has(t) !== true) (loc.overwritten ??= new Map()).set(t, a);
    }
    loc.lastWrite = a;
    if (open !== null) {
      const i = open.indexOf(a.task);
      if (i >= 0) open.splice(i, 1);
    }
    loc.overwritten?.delete(a.task);
    return hits;
  }

  /**
   * Every task seen so far has ended (Checker.setupEnded): their open
   * read-modify-writes can never be completed by a write of theirs, so they
   * and what overwrote them go (their reads stay: a later write may race
   * with them). One pass at the end of a set-up; each schedule restored
   * from it then copies two tables less per location it touches.
   *
   * Then every object's table and location is frozen: a set-up snapshot
   * and every restore of it share them, and a schedule copies the table of
   * an object it touches and the locations it touches, at their first
   * access (`location`). A restore copied each touched object's table with
   * all its locations: 36 locations and their reads per bench schedule,
   * which touched 24 of them (issue 19).
   */
  tasksEnded(): void {
    for (const fields of this.objects.values()) {
      for (const loc of fields.values()) {
        loc.open = null;
        loc.overwritten = null;
        Object.freeze(loc.reads);
        Object.freeze(loc);
      }
      Object.freeze(fields);
    }
  }

  /** The object was freed or its id allocated again: its history no longer applies. */
  forget(obj: ObjId): void {
    this.objects.delete(obj);
  }

  private location(obj: ObjId, field: string): Location {
    let fields = this.objects.get(obj);
    if (fields === undefined) {
      fields = new Map();
      this.objects.set(obj, fields);
    } else if (Object.isFrozen(fields)) {
      // the set-up's table (tasksEnded): this execution's own copy, sharing the locations until they change
      const own = new Map<string, Location>();
      fields.forEach((l, f) => own.set(f, l));
      fields = own;
      this.objects.set(obj, fields);
    }
    let loc = fields.get(field);
    if (loc === undefined) {
      loc = { lastWrite: null, reads: new Map(), open: null, overwritten: null };
      fields.set(field, loc);
    } else if (Object.isFrozen(loc)) {
      // a set-up's location has no open read-modify-write left (tasksEnded); its reads are copied at the first read (`access`)
      loc = { lastWrite: loc.lastWrite, reads: loc.reads, open: null, overwritten: null };
      fields.set(field, loc);
    }
    return loc;
  }
}

const NO_HITS: readonly RaceHit[] = Object.freeze([]);

/** Conflicting, by different tasks, not both marked, and unordered by happens-before. */
function races(prev: Access, cur: Access, hb: HappensBefore): boolean {
  if (prev.task === cur.task) return false;
  if (prev.op === 'read' && cur.op === 'read') return false;
  if (prev.lockless && cur.lockless) return false;
  return !hb.ordered(prev.task, prev.epoch, cur.task);
}
