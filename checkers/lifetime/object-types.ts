import type { TraceEvent } from '../../protocol/events.ts';
import type { ObjId } from '../../protocol/ids.ts';
// read-only look-ups do not copy a restored schedule's entries (runtime/snapshot.ts peek)
import { peek } from '../../runtime/snapshot.ts';

/**
 * The type of every kernel object the stream names, for signatures that
 * must not depend on instance ids. An object made by `k.alloc(type)` has
 * the type of its `alloc` event. An object that exists without an `alloc`
 * (static topology set up by an actor's `init`) is typed by its id's leading
 * name, up to the first character that is not a letter, `_` or `-`:
 * "dev0" → "dev", "group:3" → "group", "iommu_group@t1#2" → "iommu_group".
 * Scenario authors who want a better name for a static object should give
 * it an id that starts with its type.
 */
export class ObjectTypes {
  private readonly types = new Map<ObjId, string>();

  onEvent(e: TraceEvent): void {
    if (e.ev === 'alloc') this.allocated(e.obj, e.type);
  }

  /**
   * `k.alloc(type)` made `obj`. One table may serve several checkers of a
   * run (kernelCheckers): each passes it the allocations it sees, and the
   * same one twice changes nothing. Five checkers kept five copies of it,
   * and a restored schedule copied each (issue 19).
   */
  allocated(obj: ObjId, type: string): void {
    this.types.set(obj, type);
  }

  /** The type `obj` was allocated with; undefined for an object seen without an `alloc`. */
  known(obj: string): string | undefined {
    return peek(this.types, obj as ObjId);
  }

  of(obj: ObjId): string {
    return peek(this.types, obj) ?? typeFromId(obj);
  }
}

export function typeFromId(id: string): string {
  const m = /^[A-Za-z_-]+/.exec(id);
  return m === null ? '?' : (m[0].replace(/[-_]+$/, '') || '?');
}
