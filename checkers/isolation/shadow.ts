import { isDelta, valueAfter } from '../../protocol/delta.ts';
import type { AccessEvent, TraceEvent, WalkEvent } from '../../protocol/events.ts';
import type { ObjId, TaskId } from '../../protocol/ids.ts';
// read-only look-ups do not copy a restored schedule's entries (runtime/snapshot.ts peek)
import { peek } from '../../runtime/snapshot.ts';
import { setTable } from '../frozen-map.ts';
import { ObjectTypes } from '../lifetime/object-types.ts';

/**
 * The isolation checker's picture of the machine, rebuilt from the event
 * stream alone (so it works online in every host and offline over a saved
 * trace): the last write of every object field (who wrote it, when), the
 * objects freed, and which iommu group each device is in. Kernel actors
 * write their objects' fields through k.write (iommu_group.owner/devices,
 * struct device driver, device_driver.driver_managed_dma, pci_dev
 * in_reset/disconnected); the unit models write their hardware state the
 * same way (hardware/events.ts: page-table entries, completed
 * invalidations).
 */

export interface Write {
  /** Position in this checker's stream: orders writes within one step. */
  readonly seq: number;
  readonly step: number;
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly value: unknown;
}

const GROUP_ID = /^iommu_group\.\d+$/;

export class IsolationShadow {
  /** Per object, the last write of each field (frozen tables, replaced on a change: frozen-map.ts). */
  private readonly fields = new Map<string, ReadonlyMap<string, Write>>();
  private readonly freed = new Map<string, Write>();
  private readonly types: ObjectTypes;
  private readonly groupOfDev = new Map<string, string>();
  private seq = 0;
  /** Per-object tables are frozen while a set-up runs (frozen-map.ts tableWith); `setupEnded` ends that. */
  private seal = true;

  /** `types`: the object-type table, when several checkers of one run share one (kernelCheckers). */
  constructor(types: ObjectTypes = new ObjectTypes()) {
    this.types = types;
  }

  /** The set-up has ended: no snapshot follows (tableWith). */
  setupEnded(): void {
    this.seal = false;
  }

  onEvent(e: TraceEvent, step: number): void {
    this.seq++;
    switch (e.ev) {
      case 'alloc':
        this.types.allocated(e.obj, e.type);
        this.freed.delete(e.obj);
        this.fields.delete(e.obj);
        return;
      case 'free':
        this.freed.set(e.obj, this.write(e, step, null));
        if (this.isGroup(e.obj)) this.setMembers(e.obj, this.members(e.obj), []);
        return;
      case 'access':
        this.accessed(e, e.obj, e.value, step);
        return;
      default:
        return;
    }
  }

  /** A walk's reads (Checker.onWalk): what `onEvent` makes of each, without an event per object. */
  onWalk(e: WalkEvent, step: number): void {
    const { objs, values } = e.walk;
    for (let i = 0; i < objs.length; i++) {
      this.seq++;
      this.accessed(e, objs[i] as ObjId, values[i], step);
    }
  }

  /** An access of `obj`, which held `value` (`e`: the access, or the walk it is one read of). */
  private accessed(e: AccessEvent, obj: ObjId, v: unknown, step: number): void {
    if (e.op === 'read' && peek(this.fields, obj)?.has(e.field) === true) return;
    // a large container comes as a delta (protocol/delta.ts): a group's fields are kept whole, they are what the rules read
    // a device's dma-direct record (actors/iommu-core/dma.ts) is a container the rules read whole too
    const group = this.isGroup(obj) || e.field === 'dma_direct';
    if (e.op === 'read' && isDelta(v) && group) return;
    const value = group ? valueAfter(this.get(obj, e.field), v) : v;
    if (e.field === 'devices' && group) this.setMembers(obj, this.members(obj), asStrList(value));
    setTable(this.fields, obj, e.field, this.write(e, step, value), this.seal);
  }

  get(obj: string, field: string): unknown {
    return peek(this.fields, obj)?.get(field)?.value;
  }

  lastWrite(obj: string, field: string): Write | null {
    return peek(this.fields, obj)?.get(field) ?? null;
  }

  /** The `free` of an object, or null while it lives. */
  freeOf(obj: string): Write | null {
    return peek(this.freed, obj) ?? null;
  }

  typeOf(obj: string): string | null {
    return this.types.known(obj) ?? null;
  }

  groupOf(dev: string): string | null {
    return this.groupOfDev.get(dev) ?? null;
  }

  private isGroup(obj: string): boolean {
    const t = this.types.known(obj);
    return t === undefined ? GROUP_ID.test(obj) : t === 'iommu_group';
  }

  private members(group: string): readonly string[] {
    return asStrList(this.get(group, 'devices'));
  }

  private setMembers(group: string, before: readonly string[], after: readonly string[]): void {
    for (const d of before) if (!after.includes(d) && this.groupOfDev.get(d) === group) this.groupOfDev.delete(d);
    for (const d of after) this.groupOfDev.set(d, group);
  }

  private write(e: TraceEvent, step: number, value: unknown): Write {
    // frozen: never changed again, so a set-up snapshot shares it (runtime/snapshot.ts)
    return Object.freeze({ seq: this.seq, step, task: e.task, stack: e.stack, value });
  }
}

export const asStr = (v: unknown): string | null => (typeof v === 'string' ? v : null);
export const asStrList = (v: unknown): readonly string[] => (Array.isArray(v) ? (v as readonly unknown[]).filter((x): x is string => typeof x === 'string') : []);
