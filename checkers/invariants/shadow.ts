import type { HeldLock } from '../held-locks.ts';
import type { LockId, ObjId, TaskId } from '../../protocol/ids.ts';
// read-only look-ups do not copy a restored schedule's entries (runtime/snapshot.ts peek)
import { peek } from '../../runtime/snapshot.ts';
import { setTable } from '../frozen-map.ts';
import { ObjectTypes } from '../lifetime/object-types.ts';

/**
 * The invariants checker's picture of kernel object state, rebuilt from the
 * event stream alone (so it works online in every host and offline over a
 * saved trace): object types from `alloc`, freed objects from `free`, field
 * values from `access` events, lock instances held by anyone from the lock
 * events. Values are kept by reference: the model replaces list and record
 * fields, it never mutates them in place (docs/runtime.md).
 *
 * A field nobody has written yet reads as its kzalloc value (null, 0, false,
 * empty): objects start zeroed in the kernel, and the model allocates them
 * with those values. A `read` of a field not yet known teaches the shadow its
 * value (a static object set up in an actor's init is only ever read).
 */

/** One change the shadow saw: a field write, or a `free` (field null). */
export interface Change {
  /** Position in this checker's event stream: orders changes within one step. */
  readonly seq: number;
  readonly step: number;
  readonly task: TaskId;
  readonly stack: readonly string[];
  /** The writer's held locks at the write. */
  readonly held: readonly HeldLock[];
  readonly obj: ObjId;
  readonly field: string | null;
  readonly old: unknown;
  readonly value: unknown;
}

// ---- object kinds, by the id and type contract of actors/iommu-core/state.ts -----

const GROUP_ID = /^iommu_group\.\d+$/;
export const BLOCKED_SUFFIX = '.blocked_domain';
const DEV_IOMMU_SUFFIX = '.iommu';
const DRIVER_PREFIX = 'driver:';
/** include/linux/iommu.h: dev_iommu's require_direct:1 when the model keeps the bits in one word (DEV_IOMMU_BITS). */
export const REQUIRE_DIRECT_BIT = 4;

/** The device_driver object of a driver named by dev->driver. */
export const driverObj = (name: string): ObjId => (name.startsWith(DRIVER_PREFIX) ? name : memo(driverIds, DRIVER_PREFIX, name, '')) as ObjId;
export const devIommuObj = (dev: string): ObjId => memo(devIommuIds, '', dev, DEV_IOMMU_SUFFIX) as ObjId;
/** The dev of a `<dev>.iommu` id, or null. */
export const devOfDevIommu = (obj: string): string | null => (obj.endsWith(DEV_IOMMU_SUFFIX) ? obj.slice(0, -DEV_IOMMU_SUFFIX.length) : null);
/**
 * `<owner>->mutex`, made once per owner: a judgement looks up group->mutex
 * and every member's device_lock in the held table, and a string made anew
 * is hashed anew at every look-up (issue 19). Bounded: a process that meets
 * more owners than this starts over.
 */
const mutexIds = new Map<string, string>();
const driverIds = new Map<string, string>();
const devIommuIds = new Map<string, string>();
function mutexOf(owner: string): LockId {
  return memo(mutexIds, '', owner, '->mutex') as LockId;
}
/** (So are a member's dev_iommu and driver ids, which every judgement looks up for every member.) */
function memo(ids: Map<string, string>, prefix: string, of: string, suffix: string): string {
  let id = ids.get(of);
  if (id === undefined) {
    if (ids.size >= 65_536) ids.clear();
    id = `${prefix}${of}${suffix}`;
    ids.set(of, id);
  }
  return id;
}
export const groupMutexId = (group: string): LockId => mutexOf(group);
export const deviceLockId = (dev: string): LockId => mutexOf(dev);

// ---- value coercions: the stream carries `unknown` ----------------------------------

export const asStr = (v: unknown): string | null => (typeof v === 'string' ? v : null);
export const asNum = (v: unknown): number => (typeof v === 'number' ? v : 0);
export const asBool = (v: unknown): boolean => v === true;
export const asStrList = (v: unknown): readonly string[] =>
  Array.isArray(v) ? (v as readonly unknown[]).filter((x): x is string => typeof x === 'string') : [];
export function asStrRecord(v: unknown): Readonly<Record<string, string>> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** struct iommu_group as the shadow knows it. */
export interface GroupState {
  readonly id: string;
  readonly devices: readonly string[];
  readonly owner: string | null;
  readonly owner_cnt: number;
  readonly domain: string | null;
  readonly default_domain: string | null;
  readonly blocking_domain: string | null;
  readonly resetting_domain: string | null;
  readonly pasid_array: Readonly<Record<string, string>>;
}

export const GROUP_DOMAIN_FIELDS = ['domain', 'default_domain', 'blocking_domain'] as const;

export class Shadow {
  private readonly types: ObjectTypes;
  private readonly freed = new Map<ObjId, Change>();
  /** Per object, its fields (frozen tables, replaced on a change: frozen-map.ts). */
  private readonly fields = new Map<ObjId, ReadonlyMap<string, unknown>>();
  private readonly writes = new Map<ObjId, ReadonlyMap<string, Change>>();
  private readonly holds = new Map<LockId, number>();
  /** dev → the groups whose `devices` list it (one, unless the model is broken). */
  private readonly groupsOfDev = new Map<string, Set<string>>();
  /** group → devices that left it and have not joined another group: their RID may still be programmed. */
  private readonly formerOf = new Map<string, Set<string>>();
  private readonly lastGroupOf = new Map<string, string>();
  /** Live groups, in the order they appeared. */
  private readonly groupSet = new Set<string>();
  /**
   * While the checker judges (`judging`): each group's state and dump as
   * the rules read them. The shadow does not change during a judgement, and
   * up to five rules read the same group: each made its own GroupState and
   * two dumped every member, at every step that touched the group (issue 19).
   */
  // (the rules judge one group after the other: the last group's is all there is to remember)
  private judgingNow = false;
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
  private memoGroup: string | null = null;
  private memoState: GroupState | null = null;
  private memoDumpOf: unknown = null;

  /** Runs `f` (a judgement: the rules only read) with `group` and `memoDump` remembering what they made. */
  judging(f: () => void): void {
    this.judgingNow = true;
    try {
      f();
    } finally {
      this.judgingNow = false;
      this.memoGroup = null;
      this.memoState = null;
      this.memoDumpOf = null;
    }
  }

  /** The memo for `group` (cleared when it was another group's). */
  private memoFor(group: string): void {
    if (this.memoGroup === group) return;
    this.memoGroup = group;
    this.memoState = null;
    this.memoDumpOf = null;
  }

  /** `make()` once per group during a judgement (rules.ts dumpGroup); outside one, every time. */
  memoDump<T>(group: string, make: () => T): T {
    if (!this.judgingNow) return make();
    this.memoFor(group);
    if (this.memoDumpOf === null) this.memoDumpOf = make();
    return this.memoDumpOf as T;
  }

  // ---- object kinds ----------------------------------------------------------------

  typeOf(obj: string): string | null {
    return this.types.known(obj) ?? null;
  }

  isGroup(obj: string): boolean {
    const t = this.types.known(obj);
    return t === undefined ? GROUP_ID.test(obj) : t === 'iommu_group';
  }

  isDomain(obj: string): boolean {
    return this.types.known(obj) === 'iommu_domain';
  }

  isFreed(obj: string): boolean {
    return this.freed.has(obj as ObjId);
  }

  freeOf(obj: string): Change | null {
    return peek(this.freed, obj as ObjId) ?? null;
  }

  /** Live groups, oldest first. */
  groups(): IterableIterator<string> {
    return this.groupSet.values();
  }

  /** Whether `id` is one of `groups()`. */
  hasGroup(id: string): boolean {
    return this.groupSet.has(id);
  }

  // ---- updates -------------------------------------------------------------------

  alloc(obj: ObjId, type: string): void {
    // a new object, even when a named id (an IDA group number) comes back after a free
    this.types.allocated(obj, type);
    this.freed.delete(obj);
    this.fields.delete(obj);
    this.writes.delete(obj);
    if (this.isGroup(obj)) this.groupSet.add(obj);
  }

  free(c: Change): void {
    const obj = c.obj;
    this.freed.set(obj, c);
    if (this.isGroup(obj)) {
      this.setMembers(obj, asStrList(this.get(obj, 'devices')), []);
      this.formerOf.delete(obj);
      this.groupSet.delete(obj);
    }
    const dev = devOfDevIommu(obj);
    if (dev !== null) {
      // dev_iommu_free(): nothing is programmed for this RID any more
      const g = this.lastGroupOf.get(dev);
      if (g !== undefined) this.formerOf.get(g)?.delete(dev);
      this.lastGroupOf.delete(dev);
    }
  }

  /** A field write (c.field non-null). */
  write(c: Change): void {
    const field = c.field as string;
    if (this.isGroup(c.obj) && !this.freed.has(c.obj)) {
      this.groupSet.add(c.obj);
      if (field === 'devices') this.setMembers(c.obj, asStrList(this.get(c.obj, 'devices')), asStrList(c.value));
    }
    setTable(this.fields, c.obj, field, c.value, this.seal);
    setTable(this.writes, c.obj, field, c, this.seal);
  }

  /** A read of a field the shadow does not know yet teaches it the value. */
  learn(obj: ObjId, field: string, value: unknown): void {
    const f = this.fields.get(obj);
    if (f !== undefined && f.has(field)) return;
    setTable(this.fields, obj, field, value, this.seal);
    if (this.isGroup(obj) && !this.freed.has(obj)) {
      this.groupSet.add(obj);
      if (field === 'devices') this.setMembers(obj, [], asStrList(value));
    }
  }

  acquired(lock: LockId): void {
    this.holds.set(lock, (this.holds.get(lock) ?? 0) + 1);
  }

  released(lock: LockId): void {
    const n = (this.holds.get(lock) ?? 0) - 1;
    if (n > 0) this.holds.set(lock, n);
    else this.holds.delete(lock);
  }

  // ---- queries -------------------------------------------------------------------

  get(obj: string, field: string): unknown {
    return peek(this.fields, obj as ObjId)?.get(field);
  }

  lastWrite(obj: string, field: string): Change | null {
    return peek(this.writes, obj as ObjId)?.get(field) ?? null;
  }

  isHeld(lock: LockId): boolean {
    return this.holds.has(lock);
  }

  groupsOf(dev: string): ReadonlySet<string> {
    return this.groupsOfDev.get(dev) ?? EMPTY;
  }

  /** The group whose RID state a dev's dev_iommu belongs to: its group, or the one it last left. */
  ridGroupOf(dev: string): string | null {
    return this.lastGroupOf.get(dev) ?? null;
  }

  /** Devices that left `group` and whose dev_iommu is still alive. */
  formerMembers(group: string): ReadonlySet<string> {
    return this.formerOf.get(group) ?? EMPTY;
  }

  group(id: string): GroupState {
    if (!this.judgingNow) return this.groupNow(id);
    this.memoFor(id);
    return (this.memoState ??= this.groupNow(id));
  }

  private groupNow(id: string): GroupState {
    return {
      id,
      devices: asStrList(this.get(id, 'devices')),
      owner: asStr(this.get(id, 'owner')),
      owner_cnt: asNum(this.get(id, 'owner_cnt')),
      domain: asStr(this.get(id, 'domain')),
      default_domain: asStr(this.get(id, 'default_domain')),
      blocking_domain: asStr(this.get(id, 'blocking_domain')),
      resetting_domain: asStr(this.get(id, 'resetting_domain')),
      pasid_array: asStrRecord(this.get(id, 'pasid_array')),
    };
  }

  private setMembers(group: string, before: readonly string[], devices: readonly string[]): void {
    for (const dev of before) {
      if (devices.includes(dev)) continue;
      const gs = this.groupsOfDev.get(dev);
      if (gs === undefined || !gs.has(group)) continue;
      // left the group: its RID stays programmed until dev_iommu_free()
      gs.delete(group);
      if (gs.size === 0) this.groupsOfDev.delete(dev);
      if (this.lastGroupOf.get(dev) === group) this.former(group).add(dev);
    }
    for (const dev of devices) {
      let gs = this.groupsOfDev.get(dev);
      if (gs === undefined) this.groupsOfDev.set(dev, (gs = new Set()));
      if (gs.has(group)) continue;
      gs.add(group);
      const prev = this.lastGroupOf.get(dev);
      if (prev !== undefined) this.formerOf.get(prev)?.delete(dev);
      this.lastGroupOf.set(dev, group);
    }
  }

  private former(group: string): Set<string> {
    let s = this.formerOf.get(group);
    if (s === undefined) this.formerOf.set(group, (s = new Set()));
    return s;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
