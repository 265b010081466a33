import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks, withoutTableEvents } from '../held-locks.ts';
import type { HeldLock } from '../held-locks.ts';
import { printHeld } from '../races/print.ts';
import { modelStack, printStack, whereOf } from '../sites.ts';
import type { AccessEvent, EventName, TraceEvent, WalkEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';
import type { ActorId, ObjId, TaskId } from '../../protocol/ids.ts';
import { VFIO_INVARIANTS, show } from './rules.ts';
import type { VfioInvariantId } from './rules.ts';
// read-only look-ups do not copy a restored schedule's entries (runtime/snapshot.ts peek)
import { peek } from '../../runtime/snapshot.ts';
import { setTable } from '../frozen-map.ts';
import { ObjectTypes } from '../lifetime/object-types.ts';

/** The last write of a field: what the report names as the change that broke the rule. */
interface Write {
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly held: readonly HeldLock[];
  readonly step: number;
  readonly field: string;
  readonly value: unknown;
}

interface Violation {
  readonly id: VfioInvariantId;
  readonly subject: string;
  readonly summary: string;
  readonly state: readonly string[];
  readonly change: Write | null;
}

const VFIO_EVENTS: readonly EventName[] = Object.freeze(['alloc', 'free', 'access', 'lock.acquired', 'lock.released']);
/** With a shared held-lock table (Checker.heldLocks): an acquisition only kept that table (a release marks objects to judge). */
const VFIO_EVENTS_SHARED = withoutTableEvents(VFIO_EVENTS, ['lock.released']);

const RULE = '==================================================================';

/**
 * The VFIO invariants checker (docs/kernel-facts.md §8.2 items 9–10; rules
 * in rules.ts), fed by the access events of the vfio actor's objects
 * (actors/vfio/state.ts) and, for the ownership half of item 10, of
 * iommu-core's groups.
 *
 * When: the group rule is judged once the group's group_lock is free, the
 * registration rule once the device set's lock is free (the kernel keeps
 * both with those locks, so they may be broken inside the critical
 * section); item 10 is judged at the write that marks the device
 * unregistered (vfio_unregister_group_dev() returning): the moment the
 * promise must hold. Each (invariant, object) is reported once.
 */
export class VfioInvariantsChecker implements Checker {
  readonly name = 'vfio-invariants';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  /** What `onEvent` acts on (Checker.eventKinds): the vfio objects' state and the locks that protect it. */
  readonly eventKinds: readonly EventName[];
  readonly heldLocks?: HeldLocks;
  private readonly held: HeldLocks;
  private readonly types: ObjectTypes;
  private readonly freed = new Set<string>();
  /** Per object, its fields (frozen tables, replaced on a change: frozen-map.ts). */
  private readonly fields = new Map<string, ReadonlyMap<string, unknown>>();
  private readonly writes = new Map<string, Write>();
  private readonly dirty = new Set<string>();
  private readonly reported = new Set<string>();
  private readonly pending = new FindingQueue();
  /** The last non-null iommu_group of each vfio_group (it is revoked before the group goes). */
  private readonly iommuGroupOf = new Map<string, string>();
  /**
   * Indexes kept by `set`, so a dev_set lock release and an unregister look
   * at the objects concerned, not at every object (issue 19: these scans grew
   * with the machine): the objects naming each dev_set, the vfio-device files
   * (each with the order it became one in: reports list them in that order),
   * the files whose `priv` is each object, and the objects whose `device` is
   * each device — an unregister looks at the files that reach its device
   * through their vfio_device_file, not at every device file.
   */
  private readonly byDevSet = new Map<string, Set<string>>();
  private readonly deviceFiles = new Map<string, number>();
  private deviceFileSeq = 0;
  private readonly byPriv = new Map<string, Set<string>>();
  private readonly byDevice = new Map<string, Set<string>>();
  /** Per-object tables are frozen while a set-up runs (frozen-map.ts tableWith); `setupEnded` ends that. */
  private seal = true;

  /** `held`, `types`: the held-lock and object-type tables, when several checkers of one run share them (kernelCheckers). */
  constructor(opts: { readonly held?: HeldLocks; readonly types?: ObjectTypes } = {}) {
    this.held = opts.held ?? new HeldLocks();
    if (this.held.shared) this.heldLocks = this.held;
    this.eventKinds = this.held.shared ? VFIO_EVENTS_SHARED : VFIO_EVENTS;
    this.types = opts.types ?? new ObjectTypes();
  }

  onEvent(e: TraceEvent, step: number): void {
    this.held.onEvent(e, step);
    switch (e.ev) {
      case 'alloc':
        this.types.allocated(e.obj as ObjId, e.type);
        this.freed.delete(e.obj);
        this.unindex(e.obj);
        this.fields.delete(e.obj);
        return;
      case 'free':
        this.freed.add(e.obj);
        this.dirty.delete(e.obj);
        return;
      case 'access':
        this.accessed(e, e.obj, e.value, step);
        return;
      case 'lock.released': {
        const owner = ownerOf(e.lock.id);
        const ownerType = owner === null ? undefined : this.types.known(owner);
        if (owner !== null && ownerType === 'vfio_group') this.dirty.add(owner);
        if (owner !== null && ownerType === 'vfio_device_set') {
          for (const obj of this.byDevSet.get(owner) ?? []) this.dirty.add(obj);
        }
        return;
      }
      default:
        return;
    }
  }

  /** A walk's reads (Checker.onWalk): what `onEvent` makes of each, without an event per object. */
  onWalk(e: WalkEvent, step: number): void {
    const { objs, values } = e.walk;
    for (let i = 0; i < objs.length; i++) this.accessed(e, objs[i] as ObjId, values[i], step);
  }

  /** An access of `obj`, which held `value` (`e`: the access, or the walk it is one read of). */
  private accessed(e: AccessEvent, obj: ObjId, value: unknown, step: number): void {
    const type = this.types.known(obj);
    if (type === undefined || !WATCHED.has(type)) return;
    if (e.op === 'read' && this.get(obj, e.field) !== undefined) return;
    this.set(obj, e.field, value);
    // frozen: never changed, so a set-up snapshot's restores share it (runtime/snapshot.ts)
    if (e.op === 'write') this.writes.set(`${obj}.${e.field}`, Object.freeze({ task: e.task, stack: e.stack, held: this.held.snapshotOf(e.task), step, field: e.field, value }));
    if (type === 'vfio_group' && e.field === 'iommu_group' && typeof value === 'string') this.iommuGroupOf.set(obj, value);
    if (type === 'vfio_group' || type === 'vfio_device') this.dirty.add(obj);
    if (type === 'vfio_device' && e.op === 'write' && e.field === 'unregistered' && value === true) this.report(this.unregistered(obj));
  }

  /** The set-up has ended (Checker.setupEnded): no snapshot follows, the tables need no more freezing. */
  setupEnded(): void {
    this.seal = false;
  }

  drain(): readonly Finding[] {
    if (this.dirty.size > 0) this.judge();
    return this.pending.drain();
  }

  finish(): void {
    this.judge();
  }

  // ---- the rules --------------------------------------------------------------------------------

  private judge(): void {
    for (const obj of this.dirty) {
      if (this.freed.has(obj)) continue;
      const type = this.types.known(obj);
      if (type === 'vfio_group' && !this.isHeld(`${obj}->group_lock`)) this.report(this.groupFdExclusive(obj));
      if (type === 'vfio_device') {
        const set = this.get(obj, 'dev_set');
        if (typeof set === 'string' && !this.isHeld(`${set}->lock`)) this.report(this.openHoldsRegistration(obj));
      }
    }
    this.dirty.clear();
  }

  /** §8.2 item 9, first half. */
  private groupFdExclusive(g: string): Violation | null {
    const opened = this.get(g, 'opened_file') ?? null;
    const cnt = num(this.get(g, 'cdev_device_open_cnt'));
    if (opened === null || cnt === 0) return null;
    return {
      id: 'group-fd-exclusive', subject: g, summary: `${g}: the group fd ${show(opened)} is open while ${cnt} device${cnt === 1 ? '' : 's'} of the group are open through their cdev`,
      state: [`opened_file: ${show(opened)}`, `cdev_device_open_cnt: ${cnt}`], change: this.newest(g, ['opened_file', 'cdev_device_open_cnt']),
    };
  }

  /** §8.2 item 9, second half. */
  private openHoldsRegistration(v: string): Violation | null {
    const open = num(this.get(v, 'open_count'));
    const ref = num(this.get(v, 'refcount'));
    if (open === 0 || ref > 0) return null;
    return {
      id: 'open-holds-registration', subject: v, summary: `${v}: open_count=${open} with refcount=${ref}: an open device holds no registration reference`,
      state: [`open_count: ${open}`, `refcount: ${ref}`], change: this.newest(v, ['open_count', 'refcount']),
    };
  }

  /** §8.2 item 10, at vfio_unregister_group_dev()'s return. */
  private unregistered(v: string): Violation | null {
    const bad: string[] = [];
    const open = num(this.get(v, 'open_count'));
    const ref = num(this.get(v, 'refcount'));
    if (open !== 0) bad.push(`open_count=${open}`);
    if (ref !== 0) bad.push(`refcount=${ref}`);
    // a device fd: a file with references whose vfio_device_file is about this device (a file in its
    // final release has none left; its df is freed right after the release drops its registration reference)
    const files: string[] = [];
    for (const df of this.byDevice.get(v) ?? []) {
      for (const obj of this.byPriv.get(df) ?? []) {
        if (this.deviceFiles.has(obj) && !this.freed.has(obj) && this.types.known(obj) === 'file' && num(this.get(obj, 'f_count')) > 0) files.push(obj);
      }
    }
    files.sort((a, b) => (this.deviceFiles.get(a) as number) - (this.deviceFiles.get(b) as number));
    if (files.length > 0) bad.push(`device fds still reach it: ${files.join(', ')}`);
    const idev = this.get(v, 'idev') ?? null;
    if (idev !== null) bad.push(`still bound to iommufd (${show(idev)}): its device DMA ownership claim is held`);
    const grp = this.get(v, 'group');
    if (typeof grp === 'string' && num(this.get(grp, 'drivers')) === 0) {
      const ig = this.iommuGroupOf.get(grp);
      if (ig !== undefined && this.get(ig, 'owner') === grp) bad.push(`${ig} is still owned by ${grp} (its container claim was not released)`);
    }
    if (bad.length === 0) return null;
    return {
      id: 'unregister-releases', subject: v, summary: `${v}: vfio_unregister_group_dev() returned while the device is still reachable or claimed`,
      state: bad, change: this.writes.get(`${v}.unregistered`) ?? null,
    };
  }

  // ---- shadow and reports -----------------------------------------------------------------------

  private get(obj: string, field: string): unknown {
    return peek(this.fields, obj)?.get(field);
  }

  /** An object allocated anew forgets its fields, so its index entries go too. */
  private unindex(obj: string): void {
    this.unindexDevSet(obj, this.get(obj, 'dev_set'));
    this.deviceFiles.delete(obj);
    reindex(this.byPriv, obj, this.get(obj, 'priv'), undefined);
    reindex(this.byDevice, obj, this.get(obj, 'device'), undefined);
  }

  private unindexDevSet(obj: string, set: unknown): void {
    if (typeof set === 'string') this.byDevSet.get(set)?.delete(obj);
  }

  private set(obj: string, field: string, value: unknown): void {
    const f = this.fields.get(obj);
    if (field === 'dev_set') {
      this.unindexDevSet(obj, f?.get('dev_set'));
      if (typeof value === 'string') {
        let m = this.byDevSet.get(value);
        if (m === undefined) this.byDevSet.set(value, (m = new Set()));
        m.add(obj);
      }
    } else if (field === 'kind') {
      if (value !== 'vfio-device') this.deviceFiles.delete(obj);
      else if (!this.deviceFiles.has(obj)) this.deviceFiles.set(obj, this.deviceFileSeq++);
    } else if (field === 'priv') {
      reindex(this.byPriv, obj, f?.get('priv'), value);
    } else if (field === 'device') {
      reindex(this.byDevice, obj, f?.get('device'), value);
    }
    setTable(this.fields, obj, field, value, this.seal);
  }

  private isHeld(lockId: string): boolean {
    return this.held.holders(lockId).length > 0;
  }

  private newest(obj: string, fields: readonly string[]): Write | null {
    let best: Write | null = null;
    for (const f of fields) {
      const w = this.writes.get(`${obj}.${f}`);
      if (w !== undefined && (best === null || w.step >= best.step)) best = w;
    }
    return best;
  }

  private report(v: Violation | null): void {
    if (v === null) return;
    const key = `${v.id}|${v.subject}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    const w = v.change === null ? null : whereOf(v.change.stack);
    const info = VFIO_INVARIANTS[v.id];
    let r = `${RULE}\nBUG: VFIO invariant violated: ${v.id} (${info.ref})\n`;
    r += `${v.summary}\n${RULE}\n`;
    r += `rule: ${info.rule}\nkept by: ${info.kernel}\n\nstate:\n${v.state.map((s) => ` ${s}\n`).join('')}`;
    if (v.change !== null) {
      r += `\nlast change: ${v.change.field} = ${show(v.change.value)} by task ${v.change.task} at step ${v.change.step}:\n`;
      r += printStack(modelStack(v.change.stack), ' ') + printHeld(v.change.task, v.change.held);
    }
    r += `${RULE}\n`;
    this.pending.push({
      kind: 'invariant-violation',
      title: `invariant-violation in ${w === null ? '?' : w.site}`,
      signature: `invariant-violation:vfio-${v.id}:${w === null ? '?' : w.site}`,
      actor: w === null ? null : (w.actor as ActorId),
      handler: w === null ? null : w.handler,
      tasks: v.change === null ? [] : [{ task: v.change.task, stack: v.change.stack, held: v.change.held.map((h) => h.lock.id), waitsFor: null }],
      report: r,
    });
  }
}

/** The object types whose fields the rules read. */
/** Moves `obj` in a reverse index from the entry of the value it had to that of the value it has now (strings only: what `get` would compare). */
function reindex(index: Map<string, Set<string>>, obj: string, before: unknown, after: unknown): void {
  if (before === after) return;
  if (typeof before === 'string') index.get(before)?.delete(obj);
  if (typeof after === 'string') {
    let m = index.get(after);
    if (m === undefined) index.set(after, (m = new Set()));
    m.add(obj);
  }
}

const WATCHED: ReadonlySet<string> = new Set(['vfio_group', 'vfio_device', 'vfio_device_file', 'file', 'iommu_group']);

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/** The object a lock lives in: the id before "->" (protocol/lock-classes.ts lockOwner). */
function ownerOf(lockId: string): string | null {
  const i = lockId.indexOf('->');
  return i > 0 ? lockId.slice(0, i) : null;
}
