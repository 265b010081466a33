import type { InvariantId } from './catalog.ts';
import {
  BLOCKED_SUFFIX, GROUP_DOMAIN_FIELDS, REQUIRE_DIRECT_BIT, asBool, asNum, asStr, asStrRecord, devIommuObj, driverObj,
} from './shadow.ts';
import type { Change, GroupState, Shadow } from './shadow.ts';

/**
 * The invariants as pure judgements over the shadow (detection only; the
 * checker decides when a group is quiescent, print.ts writes the report).
 * Each judgement returns the facts that break the rule and the "last
 * change": the newest write (or free) among the fields the rule reads. The
 * rule held at the previous quiescent point, so one of the changes since
 * then broke it, and the newest one is the one a reader looks at first; its
 * `actor.handler` is the finding's site.
 */

/** A member (or a former member whose RID is still programmed) as the report shows it. */
export interface MemberState {
  readonly dev: string;
  /** Left the group; its dev_iommu is still alive. */
  readonly former: boolean;
  readonly driver: string | null;
  readonly driver_managed_dma: boolean;
  readonly bound: boolean;
  /** null: the device has no dev_iommu the shadow knows of. */
  readonly require_direct: boolean | null;
  readonly hw_domain: string | null;
}

export interface GroupDump {
  readonly state: GroupState;
  readonly members: readonly MemberState[];
}

export interface Violation {
  readonly invariant: InvariantId;
  /** The object the rule is about: a group, or (an SVA domain freed in use) a domain. */
  readonly subject: string;
  /** The one-line statement of what is wrong, then any detail lines. */
  readonly summary: string;
  readonly details: readonly string[];
  readonly group: GroupDump | null;
  /** Newest change among what the rule reads; the write itself for write-time rules. */
  readonly change: Change | null;
  /** Step at which the checker saw the rule broken. */
  readonly step: number;
  /** Judged at a write (the transition itself) rather than at a quiescent point. */
  readonly atWrite: boolean;
  /** Set when a scenario's replacement of the invariant judged it (InvariantsOptions.replace). */
  readonly replacement?: { readonly name: string; readonly rule: string };
}

/**
 * The fields of objects other than groups that the rules below read (a
 * member's driver and binding, its dev_iommu, its driver's
 * driver_managed_dma, an SVA domain's users): a change of any other field of
 * those objects changes no judgement (the checker then ignores it, unless a
 * scenario replaces a rule: InvariantsChecker). A group's fields are all read.
 */
export const RULE_FIELDS: ReadonlySet<string> = new Set(['driver', 'bound', 'require_direct', 'bits', 'hw_domain', 'driver_managed_dma', 'users']);

// ---- helpers -----------------------------------------------------------------------

function newest(changes: Iterable<Change | null>): Change | null {
  let best: Change | null = null;
  for (const c of changes) if (c !== null && (best === null || c.seq > best.seq)) best = c;
  return best;
}

export function show(v: unknown): string {
  if (v === null || v === undefined) return '(null)';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? '(empty)' : (v as readonly unknown[]).map(show).join(', ');
  if (typeof v === 'object') {
    const e = Object.entries(v);
    return e.length === 0 ? '(empty)' : e.map(([k, x]) => `${k} -> ${show(x)}`).join(', ');
  }
  return String(v);
}

export function member(s: Shadow, dev: string, former: boolean): MemberState {
  const driver = asStr(s.get(dev, 'driver'));
  const di = devIommuObj(dev);
  const hasIommu = !s.isFreed(di) && (s.get(di, 'require_direct') !== undefined || s.get(di, 'bits') !== undefined || s.get(di, 'hw_domain') !== undefined);
  return {
    dev, former, driver,
    driver_managed_dma: driver === null ? false : asBool(s.get(driverObj(driver), 'driver_managed_dma')),
    bound: asBool(s.get(dev, 'bound')),
    require_direct: hasIommu ? asBool(s.get(di, 'require_direct')) || (asNum(s.get(di, 'bits')) & REQUIRE_DIRECT_BIT) !== 0 : null,
    hw_domain: hasIommu ? asStr(s.get(di, 'hw_domain')) : null,
  };
}

export function dumpGroup(s: Shadow, group: string): GroupDump {
  return s.memoDump(group, () => dumpGroupNow(s, group));
}

function dumpGroupNow(s: Shadow, group: string): GroupDump {
  const state = s.group(group);
  const members = state.devices.map((d) => member(s, d, false));
  for (const d of s.formerMembers(group)) members.push(member(s, d, true));
  return { state, members };
}

/** A bound member whose driver uses the kernel DMA API (no driver_managed_dma): a claim on the default domain. */
const kernelDriver = (m: MemberState): boolean => !m.former && m.bound && m.driver !== null && !m.driver_managed_dma;

const listDrivers = (ms: readonly MemberState[]): string => ms.map((m) => `${m.dev} ${m.driver ?? '(null)'}`).join(', ');

/** What a member's driver/binding state was last changed by. */
function memberChanges(s: Shadow, m: MemberState): (Change | null)[] {
  const out = [s.lastWrite(m.dev, 'driver'), s.lastWrite(m.dev, 'bound')];
  if (m.driver !== null) out.push(s.lastWrite(driverObj(m.driver), 'driver_managed_dma'));
  return out;
}

interface Base {
  readonly s: Shadow;
  readonly group: string;
  readonly step: number;
}

function violation(b: Base, invariant: InvariantId, summary: string, details: readonly string[], dump: GroupDump, change: Change | null): Violation {
  return { invariant, subject: b.group, summary, details, group: dump, change, step: b.step, atWrite: false };
}

// ---- group-state rules (judged when group->mutex is free) ---------------------------

/** §8.2 item 2: __iommu_group_free_device()'s WARN. */
export function emptyGroup(b: Base): Violation | null {
  const { s, group } = b;
  const st = s.group(group);
  if (st.devices.length > 0 || (st.owner_cnt === 0 && st.domain === st.default_domain)) return null;
  const bad: string[] = [];
  if (st.owner_cnt !== 0) bad.push(`owner_cnt=${st.owner_cnt}`);
  if (st.domain !== st.default_domain) bad.push(`domain=${show(st.domain)} != default_domain=${show(st.default_domain)}`);
  const change = newest(['devices', 'owner_cnt', 'domain', 'default_domain'].map((f) => s.lastWrite(group, f)));
  return violation(b, 'empty-group', `group ${group} has no devices but ${bad.join(', ')}`, [], dumpGroup(s, group), change);
}

/** §8.2 items 7/8: a group still names a freed domain. */
export function freedDomainInGroup(b: Base): Violation | null {
  const { s, group } = b;
  const st = s.group(group);
  const details: string[] = [];
  const changes: (Change | null)[] = [];
  for (const f of GROUP_DOMAIN_FIELDS) {
    const d = st[f];
    if (d === null || !s.isFreed(d)) continue;
    details.push(`${f}=${d} was freed${freedBy(s, d)}`);
    changes.push(s.lastWrite(group, f), s.freeOf(d));
  }
  for (const [pasid, d] of Object.entries(st.pasid_array)) {
    if (!s.isFreed(d)) continue;
    details.push(`pasid_array[${pasid}]=${d} was freed${freedBy(s, d)}`);
    changes.push(s.lastWrite(group, 'pasid_array'), s.freeOf(d));
  }
  if (details.length === 0) return null;
  const n = details.length;
  return violation(b, 'freed-domain', `group ${group} names ${n === 1 ? 'a freed domain' : `${n} freed domains`}`, details, dumpGroup(s, group), newest(changes));
}

function freedBy(s: Shadow, d: string): string {
  const c = s.freeOf(d);
  return c === null ? '' : ` by task ${c.task} at step ${c.step}`;
}

/** §2.2 require_direct: the RID of an RMRR/IVMD/RMR device must never sit on a blocked domain. */
export function requireDirectBlocked(b: Base): Violation | null {
  const { s, group } = b;
  const dump = dumpGroup(s, group);
  const bl = dump.state.blocking_domain;
  const isBlocked = (d: string | null): boolean => d !== null && (d.endsWith(BLOCKED_SUFFIX) || d === bl);
  const bad = dump.members.filter((m) => m.require_direct === true && isBlocked(m.hw_domain));
  if (bad.length === 0) return null;
  const changes: (Change | null)[] = [];
  for (const m of bad) {
    const di = devIommuObj(m.dev);
    changes.push(s.lastWrite(di, 'hw_domain'), s.lastWrite(di, 'require_direct'), s.lastWrite(di, 'bits'));
    if (m.hw_domain === bl) changes.push(s.lastWrite(group, 'blocking_domain'));
  }
  const details = bad.map((m) => `${m.dev}${m.former ? ' (left the group)' : ''}: require_direct set, hardware translates its RID through ${show(m.hw_domain)}`);
  const what = bad.length === 1 ? `device ${(bad[0] as MemberState).dev} has` : `${bad.length} devices have`;
  return violation(b, 'require-direct-blocked', `group ${group}: ${what} IOMMU_RESV_DIRECT regions and sit${bad.length === 1 ? 's' : ''} on a blocked domain`, details, dump, newest(changes));
}

// ---- ownership rules (judged when group->mutex and every member's device_lock are free) --

/** §8.2 item 3. */
export function userOwnerNoKernelDriver(b: Base): Violation | null {
  const { s, group } = b;
  const st = s.group(group);
  if (st.owner === null) return null;
  const dump = dumpGroup(s, group);
  const kernel = dump.members.filter(kernelDriver);
  if (kernel.length === 0) return null;
  const changes = [s.lastWrite(group, 'owner'), s.lastWrite(group, 'devices'), ...kernel.flatMap((m) => memberChanges(s, m))];
  const summary = `group ${group}: owner=${st.owner} owner_cnt=${st.owner_cnt}, bound kernel drivers: ${kernel.length} (${listDrivers(kernel)})`;
  return violation(b, 'user-owner-no-kernel-driver', summary, [], dump, newest(changes));
}

/** §8.2 item 4. An empty group's count is 'empty-group''s to judge (one bug, one report). */
export function ownerCnt(b: Base): Violation | null {
  const { s, group } = b;
  const st = s.group(group);
  if (st.owner !== null || st.devices.length === 0) return null;
  const dump = dumpGroup(s, group);
  const kernel = dump.members.filter(kernelDriver);
  if (st.owner_cnt === kernel.length) return null;
  const current = dump.members.filter((m) => !m.former);
  const changes = [s.lastWrite(group, 'owner'), s.lastWrite(group, 'owner_cnt'), s.lastWrite(group, 'devices'), ...current.flatMap((m) => memberChanges(s, m))];
  const list = kernel.length === 0 ? '' : ` (${listDrivers(kernel)})`;
  const summary = `group ${group}: owner=(null) owner_cnt=${st.owner_cnt}, bound kernel drivers: ${kernel.length}${list}`;
  return violation(b, 'owner-cnt', summary, [], dump, newest(changes));
}

// ---- domain rules ------------------------------------------------------------------

/** §8.2 item 8, SVA: iommu_sva_unbind_device() frees a domain only when domain->users drops to 0. */
export function freedDomainUsers(s: Shadow, domain: string, step: number): Violation | null {
  const users = asNum(s.get(domain, 'users'));
  if (users <= 0) return null;
  const free = s.freeOf(domain);
  const summary = `iommu_domain ${domain} freed with users=${users}`;
  const details = [`domain->users counts the SVA bonds sharing it; the last one frees it (drivers/iommu/iommu-sva.c: iommu_sva_unbind_device)`];
  return { invariant: 'freed-domain', subject: domain, summary, details, group: null, change: free, step, atWrite: false };
}

// ---- write-time rules (the transition itself is forbidden) --------------------------

/** §8.2 item 5: a write changing group->owner while pasid_array is non-empty. */
export function pasidOwnership(s: Shadow, c: Change, old: unknown): Violation | null {
  const group = c.obj;
  const st = s.group(group);
  const from = asStr(old);
  const to = asStr(c.value);
  if (from === to || Object.keys(st.pasid_array).length === 0) return null;
  const summary = `group ${group}: owner ${show(from)} -> ${show(to)} while pasid_array is not empty (${show(st.pasid_array)})`;
  const details = [`a DMA ownership ${to === null ? 'release' : 'claim'} must fail (-EBUSY / WARN) while PASIDs are attached`];
  return { invariant: 'pasid-ownership', subject: group, summary, details, group: dumpGroup(s, group), change: c, step: c.step, atWrite: true };
}

/**
 * §8.2 item 6: a write of group->domain (to a non-null domain) or a
 * pasid_array write that adds or replaces an entry, while resetting_domain
 * is set. Teardown is allowed: domain = NULL when the last device leaves,
 * and removing PASID entries (iommu_detach_device_pasid() does not look at
 * resetting_domain and cannot fail).
 */
export function resetTransition(s: Shadow, c: Change, old: unknown): Violation | null {
  const group = c.obj;
  const st = s.group(group);
  if (st.resetting_domain === null) return null;
  let what: string;
  if (c.field === 'domain') {
    const from = asStr(old);
    const to = asStr(c.value);
    if (to === null || to === from) return null;
    what = `domain ${show(from)} -> ${to}`;
  } else {
    const before = asStrRecord(old);
    const after = asStrRecord(c.value);
    const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
    if (changed.length === 0) return null;
    what = `pasid_array ${changed.map((k) => `[${k}] ${show(before[k] ?? null)} -> ${after[k] as string}`).join(', ')}`;
  }
  const summary = `group ${group}: ${what} while resetting_domain=${st.resetting_domain}`;
  const details = ['RID domain switches and PASID attach/replace must return -EBUSY until pci_dev_reset_iommu_done() clears resetting_domain'];
  return { invariant: 'reset-transition', subject: group, summary, details, group: dumpGroup(s, group), change: c, step: c.step, atWrite: true };
}
