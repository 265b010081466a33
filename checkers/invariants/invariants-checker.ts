import { isDelta, valueAfter } from '../../protocol/delta.ts';
import { isInvariantId } from './catalog.ts';
import type { InvariantId } from './catalog.ts';
import { invariantFinding } from './findings.ts';
import { RULE_FIELDS, emptyGroup, freedDomainInGroup, freedDomainUsers, ownerCnt, pasidOwnership, requireDirectBlocked, resetTransition, userOwnerNoKernelDriver } from './rules.ts';
import type { Violation } from './rules.ts';
import { GROUP_DOMAIN_FIELDS, Shadow, asStrRecord, deviceLockId, devOfDevIommu, groupMutexId } from './shadow.ts';
import type { Change } from './shadow.ts';
import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks } from '../held-locks.ts';
import type { ObjectTypes } from '../lifetime/object-types.ts';
import type { EventName, TraceEvent, WalkEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';
import type { ObjId } from '../../protocol/ids.ts';
import { lockOwner } from '../../protocol/lock-classes.ts';

export interface InvariantsOptions {
  /** Invariant ids not to check (INVARIANT_IDS), e.g. 'owner-cnt' for historic variants without owner_cnt. */
  readonly skip?: readonly string[];
  /**
   * Invariants a scenario replaces with its own judgement (a patch that
   * changes a kernel rule on purpose): the id's judge is not run, the
   * replacement's is, at the same moments, and its violations carry the
   * replacement's name and rule.
   */
  readonly replace?: Readonly<Partial<Record<InvariantId, InvariantReplacement>>>;
  /** The held-lock table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly held?: HeldLocks;
  /** The object-type table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly types?: ObjectTypes;
}

/** A judgement on a quiescent group (the `group` and `group+devices` invariants). */
export type GroupRule = (b: { readonly s: Shadow; readonly group: string; readonly step: number }) => Violation | null;
/** A judgement at a write to a group's field (the transition invariants, 'pasid-ownership' and 'reset-transition'). */
export type WriteRule = (s: Shadow, c: Change, old: unknown) => Violation | null;

/** A scenario's own version of an invariant (docs/scenarios.md "Kernel rules as data"). */
export interface InvariantReplacement {
  /** Its name: findings say `invariant-violation:<name>:…` instead of the id. */
  readonly name: string;
  /** The rule, in one line, as the report prints it. */
  readonly rule: string;
  /** The judgement, of the kind the replaced invariant has (GroupRule or WriteRule: catalog.ts `when`). */
  readonly judge: GroupRule | WriteRule;
}

/**
 * What `onEvent` acts on (Checker.eventKinds): object state and the locks that
 * protect it. (`seq` counts only these: it orders changes, nothing more.)
 */
const INVARIANT_EVENTS: readonly EventName[] = Object.freeze(['alloc', 'free', 'access', 'lock.acquired', 'lock.released']);

/** The group fields that name domains (`indexDomains` reads these only): a write of another field changes no name. */
const NAMING_FIELDS: ReadonlySet<string> = new Set([...GROUP_DOMAIN_FIELDS, 'pasid_array']);

/** Judged when group->mutex is free. */
const GROUP_RULES: readonly (readonly [InvariantId, GroupRule])[] = [
  ['empty-group', emptyGroup],
  ['freed-domain', freedDomainInGroup],
  ['require-direct-blocked', requireDirectBlocked],
];
/** Judged when group->mutex and every member's device_lock are free. */
const DEVICE_RULES: readonly (readonly [InvariantId, GroupRule])[] = [
  ['user-owner-no-kernel-driver', userOwnerNoKernelDriver],
  ['owner-cnt', ownerCnt],
];

/**
 * The invariants checker (docs/kernel-facts.md §8.2 items 2–8): the IOMMU
 * core's group, ownership and domain-lifetime invariants, judged over a
 * shadow of kernel object state built from the event stream (shadow.ts).
 *
 * When: the kernel keeps these invariants with group->mutex (and, for the
 * ownership count, device_lock: really_probe() sets dev->driver under
 * device_lock before dma_configure bumps owner_cnt), so inside a critical
 * section they may be broken for a while. They are judged in `drain()`,
 * after each step, for the groups touched since the last drain (a write to
 * the group, its members, their drivers or dev_iommu, a free of a domain it
 * names, the release of its mutex or a member's device_lock), and only when
 * the protecting locks are free: a violation is reported at the first
 * quiescent point where it holds, a transient one fixed before the unlock is
 * not. The two transition rules ('pasid-ownership', 'reset-transition') are
 * judged at the write itself: the transition is the bug, whatever state
 * follows. Each (invariant, object) is reported once per execution.
 */
export class InvariantsChecker implements Checker {
  readonly name = 'invariants';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  readonly eventKinds = INVARIANT_EVENTS;
  private readonly skip: ReadonlySet<string>;
  private readonly replace: Readonly<Partial<Record<InvariantId, InvariantReplacement>>>;
  private readonly shadow: Shadow;
  private readonly held: HeldLocks;
  /** Groups to judge at the next drain, in the order they were touched. */
  private readonly dirty = new Set<string>();
  /** Domains freed since the last drain (their users count is judged then). */
  private freedDomains: string[] = [];
  /**
   * The groups that name each domain (a domain field or a pasid_array
   * entry), kept at every group write, so a domain's free looks at those
   * groups and not at every group of the machine (issue 19).
   */
  private readonly namedBy = new Map<string, Set<string>>();
  private readonly names = new Map<string, ReadonlySet<string>>();
  private readonly reported = new Set<string>();
  private readonly pending = new FindingQueue();
  /**
   * No rule is replaced, so what the rules read is known (rules.ts
   * RULE_FIELDS, a group's fields, group->mutex and the members'
   * device_lock): an access to another field of another object, or the
   * release of another lock, changes no judgement and is not taken in. A
   * group they made dirty was judged on the same state it passed (or
   * failed, and was reported) at its last quiescent point: every change a
   * rule reads marks it, and so does every release that makes it quiescent.
   * Half of a bench schedule's accesses and two of its ~16 judgements were
   * those (issue 19). A replacement may read any field: then all are kept.
   */
  private readonly narrow: boolean;
  private seq = 0;
  private step = 0;

  constructor(opts: InvariantsOptions = {}) {
    for (const id of opts.skip ?? []) if (!isInvariantId(id)) throw new Error(`invariants: unknown invariant '${id}' in skip`);
    this.skip = new Set(opts.skip ?? []);
    for (const id of Object.keys(opts.replace ?? {})) if (!isInvariantId(id)) throw new Error(`invariants: unknown invariant '${id}' to replace`);
    this.replace = opts.replace ?? {};
    this.narrow = Object.keys(this.replace).length === 0;
    this.held = opts.held ?? new HeldLocks();
    this.shadow = new Shadow(opts.types);
  }

  onEvent(e: TraceEvent, step: number): void {
    this.seq++;
    this.step = step;
    this.held.onEvent(e, step);
    const s = this.shadow;
    switch (e.ev) {
      case 'alloc':
        s.alloc(e.obj, e.type);
        if (s.isGroup(e.obj)) {
          this.dirty.add(e.obj);
          this.indexDomains(e.obj);
        }
        return;
      case 'free': {
        if (s.isDomain(e.obj)) this.domainFreed(e.obj);
        if (s.isGroup(e.obj)) {
          this.dirty.delete(e.obj);
          this.indexDomains(e.obj, new Set());
        }
        // a dev_iommu: the RID state is gone, its group no longer answers for it
        const dev = devOfDevIommu(e.obj);
        if (dev !== null) this.touchDevice(dev);
        s.free(this.change(e, step, null, undefined, undefined));
        return;
      }
      case 'access': {
        // (one look-up of the object's kind per access: it cannot change before the next alloc)
        const group = s.isGroup(e.obj);
        if (this.narrow && !group && !RULE_FIELDS.has(e.field)) return;
        if (e.op === 'read') {
          this.read(e.obj, e.field, e.value, group);
          return;
        }
        const old = e.old !== undefined ? e.old : s.get(e.obj, e.field);
        // a group's fields are kept whole (the rules read them); elsewhere a large container's delta stands for it
        const value = group ? valueAfter(old, e.value) : e.value;
        const c = this.change(e, step, e.field, old, value);
        if (group) this.atGroupWrite(c, old);
        s.write(c);
        if (group && NAMING_FIELDS.has(e.field)) this.indexDomains(e.obj);
        this.touchKnown(e.obj, group);
        return;
      }
      case 'lock.acquired':
        if (e.ok) s.acquired(e.lock.id);
        return;
      case 'lock.released': {
        s.released(e.lock.id);
        const owner = lockOwner(e.lock.id);
        if (owner === null) return;
        // (only group->mutex and a member's device_lock keep a judgement waiting: groupMutexId, deviceLockId)
        if (this.narrow && e.lock.id !== groupMutexId(owner)) return;
        if (s.isGroup(owner)) this.dirty.add(owner);
        else for (const g of s.groupsOf(owner)) this.dirty.add(g);
        return;
      }
      case 'task.start':
      case 'task.context':
      case 'task.end':
      case 'send':
      case 'lock.request':
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
   * an event per object; `seq` still counts one per read.
   */
  onWalk(e: WalkEvent, step: number): void {
    this.step = step;
    const s = this.shadow;
    const { objs, values } = e.walk;
    // (the field is the walk's: a field no rule reads leaves only the groups among the objects to look at)
    const ruleField = !this.narrow || RULE_FIELDS.has(e.field);
    for (let i = 0; i < objs.length; i++) {
      this.seq++;
      const obj = objs[i] as ObjId;
      const group = s.isGroup(obj);
      if (ruleField || group) this.read(obj, e.field, values[i], group);
    }
  }

  /** A read of `field` of `obj` (`group`: whether it is a group): a value not known yet is learnt. */
  private read(obj: ObjId, field: string, value: unknown, group: boolean): void {
    const s = this.shadow;
    // a read of a large container tells its size only (protocol/delta.ts): nothing to learn
    if (s.get(obj, field) !== undefined || isDelta(value)) return;
    s.learn(obj, field, value);
    if (group && NAMING_FIELDS.has(field)) this.indexDomains(obj);
    this.touchKnown(obj, group);
  }

  /** The set-up has ended (Checker.setupEnded): the shadow's tables need no more freezing. */
  setupEnded(): void {
    this.shadow.setupEnded();
  }

  drain(): readonly Finding[] {
    if (this.dirty.size > 0 || this.freedDomains.length > 0) this.judge();
    return this.pending.drain();
  }

  /** The end of the execution: judge whatever is still dirty (an offline feed may not drain after its last event). */
  finish(): void {
    this.judge();
  }

  // ---- judging ---------------------------------------------------------------------

  private judge(): void {
    this.shadow.judging(() => this.judgeNow());
  }

  private judgeNow(): void {
    const s = this.shadow;
    if (this.freedDomains.length > 0) {
      const freed = this.freedDomains;
      this.freedDomains = [];
      if (this.wants('freed-domain')) {
        for (const d of freed) if (!this.reported.has(key('freed-domain', d))) this.report(freedDomainUsers(s, d, this.step));
      }
    }
    for (const group of this.dirty) {
      if (s.isFreed(group) || s.isHeld(groupMutexId(group))) continue;
      const b = { s, group, step: this.step };
      for (const [id, rule] of GROUP_RULES) this.apply(id, group, rule, b);
      // a re-dirty comes with the release of the device_lock still held now
      if (s.group(group).devices.some((d) => s.isHeld(deviceLockId(d)))) continue;
      for (const [id, rule] of DEVICE_RULES) this.apply(id, group, rule, b);
    }
    this.dirty.clear();
  }

  private apply(id: InvariantId, group: string, rule: GroupRule, b: Parameters<GroupRule>[0]): void {
    // (no key made while nothing is reported: the usual case, ~30 rules judged per bench schedule)
    if (!this.wants(id) || (this.reported.size > 0 && this.reported.has(key(id, group)))) return;
    const r = this.replace[id];
    if (r === undefined) this.report(rule(b));
    else this.report(replaced(r, (r.judge as GroupRule)(b)));
  }

  /** A transition rule, or the scenario's replacement of it. */
  private applyWrite(id: InvariantId, rule: WriteRule, c: Change, old: unknown): void {
    if (!this.wants(id)) return;
    const r = this.replace[id];
    if (r === undefined) this.report(rule(this.shadow, c, old));
    else this.report(replaced(r, (r.judge as WriteRule)(this.shadow, c, old)));
  }

  private wants(id: InvariantId): boolean {
    return !this.skip.has(id);
  }

  private report(v: Violation | null): void {
    if (v === null) return;
    const k = key(v.invariant, v.subject);
    if (this.reported.has(k)) return;
    this.reported.add(k);
    this.pending.push(invariantFinding(v));
  }

  /** The transition rules, judged against the state before the write. */
  private atGroupWrite(c: Change, old: unknown): void {
    if (c.field === 'owner') this.applyWrite('pasid-ownership', pasidOwnership, c, old);
    if (c.field === 'domain' || c.field === 'pasid_array') this.applyWrite('reset-transition', resetTransition, c, old);
  }

  // ---- what a change touches -----------------------------------------------------------

  private change(e: TraceEvent, step: number, field: string | null, old: unknown, value: unknown): Change {
    // frozen: never changed again, so a set-up snapshot shares it (runtime/snapshot.ts)
    return Object.freeze({ seq: this.seq, step, task: e.task, stack: e.stack, held: this.held.snapshotOf(e.task), obj: (e as { readonly obj: ObjId }).obj, field, old, value });
  }

  /** Marks the groups whose invariants read `obj` dirty (`group`: whether it is one). */
  private touchKnown(obj: ObjId, group: boolean): void {
    const s = this.shadow;
    if (group) {
      this.dirty.add(obj);
      return;
    }
    const dev = devOfDevIommu(obj);
    if (dev !== null) {
      this.touchDevice(dev);
      return;
    }
    if (obj.startsWith('driver:')) {
      // a driver's driver_managed_dma: rare, so every group is looked at again
      for (const g of s.groups()) this.dirty.add(g);
      return;
    }
    for (const g of s.groupsOf(obj)) this.dirty.add(g);
  }

  private touchDevice(dev: string): void {
    for (const g of this.shadow.groupsOf(dev)) this.dirty.add(g);
    const rid = this.shadow.ridGroupOf(dev);
    if (rid !== null) this.dirty.add(rid);
  }

  /** iommu_domain_free(): the groups that still name it are judged at their next quiescent point. */
  private domainFreed(domain: ObjId): void {
    const s = this.shadow;
    this.freedDomains.push(domain);
    for (const g of this.namedBy.get(domain) ?? []) if (s.hasGroup(g)) this.dirty.add(g);
  }

  /** Brings `namedBy` up to date with the domains group `g` names now (`now`: none, for a freed group). */
  private indexDomains(g: string, now?: ReadonlySet<string>): void {
    let next = now;
    if (next === undefined) {
      const s = this.shadow;
      const named = new Set<string>();
      for (const f of GROUP_DOMAIN_FIELDS) {
        const d = s.get(g, f);
        if (typeof d === 'string') named.add(d);
      }
      for (const d of Object.values(asStrRecord(s.get(g, 'pasid_array')))) named.add(d);
      // frozen: replaced, never changed, so a set-up snapshot shares it
      next = Object.freeze(named);
    }
    const before = this.names.get(g);
    for (const d of before ?? []) if (!next.has(d)) this.namedBy.get(d)?.delete(g);
    for (const d of next) {
      if (before?.has(d) === true) continue;
      let m = this.namedBy.get(d);
      if (m === undefined) this.namedBy.set(d, (m = new Set()));
      m.add(g);
    }
    this.names.set(g, next);
  }
}

const key = (id: InvariantId, subject: string): string => `${id}|${subject}`;

/** A replacement's violation names the replacement (whatever `invariant` its judge copied from upstream's). */
function replaced(r: InvariantReplacement, v: Violation | null): Violation | null {
  return v === null ? null : { ...v, replacement: { name: r.name, rule: r.rule } };
}

function unreachable(x: never): never {
  throw new Error(`invariants: unhandled event ${JSON.stringify(x)}`);
}
