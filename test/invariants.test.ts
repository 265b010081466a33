import { describe, expect, it } from 'vitest';
import { feed } from './helpers/feed.ts';
import { INVARIANT_IDS, InvariantsChecker } from '../checkers/invariants/index.ts';
import type { InvariantsOptions } from '../checkers/invariants/index.ts';
import type { WriteRule } from '../checkers/invariants/invariants-checker.ts';
import { resetTransition } from '../checkers/invariants/rules.ts';
import type { Change, Shadow } from '../checkers/invariants/shadow.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { actorId, objId, taskId } from '../protocol/ids.ts';
import { deviceLock, groupMutex } from '../protocol/lock-classes.ts';

// ---- a synthetic event feed: the checker is a pure consumer of events ---------------------------

/** Events of one task running `actor:handler`, below the `outer` frames (outermost first). */
function on(task: string, frame: string, outer: readonly string[] = []) {
  const actor = actorId(frame.slice(0, frame.lastIndexOf(':')));
  const base = { task: taskId(task), actor, stack: [...outer, frame] } as const;
  // lock events come from the lock manager, running in the caller's task on top of its stack
  const inLocks = { ...base, stack: [...base.stack, 'locks:mutex_lock'] } as const;
  return {
    alloc: (obj: string, type: string): TraceEvent => ({ ...base, ev: 'alloc', obj: objId(obj), type }),
    free: (obj: string): TraceEvent => ({ ...base, ev: 'free', obj: objId(obj) }),
    write: (obj: string, field: string, value: unknown, old?: unknown): TraceEvent =>
      ({ ...base, ev: 'access', obj: objId(obj), field, op: 'write', guard: null, lockless: false, value, ...(old === undefined ? {} : { old }) }),
    read: (obj: string, field: string, value: unknown): TraceEvent =>
      ({ ...base, ev: 'access', obj: objId(obj), field, op: 'read', guard: null, lockless: false, value }),
    lock: (l: LockRef): TraceEvent => ({ ...inLocks, ev: 'lock.acquired', lock: l, mode: 'write', try: false, ok: true }),
    unlock: (l: LockRef): TraceEvent => ({ ...inLocks, ev: 'lock.released', lock: l, mode: 'write' }),
    /** `events` under `l`, as one critical section. */
    locked: (l: LockRef, ...events: readonly TraceEvent[]): TraceEvent[] => [
      { ...inLocks, ev: 'lock.acquired', lock: l, mode: 'write', try: false, ok: true }, ...events, { ...inLocks, ev: 'lock.released', lock: l, mode: 'write' },
    ],
  };
}

interface Run {
  readonly findings: Finding[];
  /** The step (event index) after which each finding was drained. */
  readonly at: number[];
}

/** Feeds one event per step and drains after each, as a run does. */
const check = (events: readonly TraceEvent[], opts: InvariantsOptions = {}): Run => feed(new InvariantsChecker(opts), events);
const sigs = (r: Run): string[] => r.findings.map((f) => f.signature);

// ---- the cast: one group, its mutex, two PCI devices and their drivers ----------------------------

const G = 'iommu_group.1';
const GM = groupMutex(G);
const D1 = '0000:00:02.0';
const D2 = '0000:00:03.0';
const DL1 = deviceLock(D1);
const DMA = 'iommu_domain@t0#1';
const BLOCKED = 'vtd0.blocked_domain';

const boot = on('t0', 'iommu-core:iommu_probe_device', ['driver-core:device_add']);
const probe = on('t1', 'driver-core:really_probe', ['driver-core:bind_store']);
const useDefault = on('t1', 'iommu-core:iommu_device_use_default_domain', ['driver-core:bind_store', 'driver-core:really_probe', 'pci:pci_dma_configure']);
const claim = on('t2', 'iommu-core:iommu_group_claim_dma_owner', ['vfio:vfio_group_fops_unl_ioctl']);
const iommufd = on('t3', 'iommu-core:iommu_attach_device_pasid', ['iommufd:iommufd_device_attach']);
const reset = on('t4', 'iommu-core:pci_dev_reset_iommu_prepare', ['pci:pcie_flr']);

/** A group with D1 in it, on its DMA default domain, and the two drivers registered. */
function groupWith(devices: readonly string[] = [D1]): TraceEvent[] {
  return [
    on('t0', 'driver-core:driver_register').write('driver:e1000e', 'driver_managed_dma', false),
    on('t0', 'driver-core:driver_register').write('driver:vfio-pci', 'driver_managed_dma', true),
    boot.alloc(G, 'iommu_group'),
    boot.alloc(DMA, 'iommu_domain'),
    ...boot.locked(GM,
      boot.write(G, 'devices', devices, []),
      boot.write(G, 'default_domain', DMA, null),
      boot.write(G, 'domain', DMA, null)),
  ];
}

/** really_probe() of `driver` on D1, with (or without) dma_configure's owner_cnt++. */
function bind(driver: string, bumps: boolean, cnt = 0): TraceEvent[] {
  return [
    probe.lock(DL1),
    probe.write(D1, 'driver', driver, null),
    ...(bumps ? useDefault.locked(GM, useDefault.write(G, 'owner_cnt', cnt + 1, cnt)) : []),
    probe.write(D1, 'bound', true, false),
    probe.unlock(DL1),
  ];
}

describe('invariants checker over event streams', () => {
  it('exports every invariant id', () => {
    expect([...INVARIANT_IDS]).toEqual(['empty-group', 'user-owner-no-kernel-driver', 'owner-cnt', 'pasid-ownership', 'reset-transition', 'freed-domain', 'require-direct-blocked']);
  });

  it('a consistent boot, bind and claim by a driver_managed_dma driver is silent', () => {
    const r = check([
      ...groupWith(),
      ...bind('vfio-pci', false),
      ...claim.locked(GM, claim.write(G, 'blocking_domain', BLOCKED, null), claim.write(G, 'domain', BLOCKED, DMA), claim.write(G, 'owner', 'vfio_group.1', null), claim.write(G, 'owner_cnt', 1, 0)),
    ]);
    expect(sigs(r)).toEqual([]);
  });

  // ---- §8.2 item 2 ---------------------------------------------------------------------------

  it('empty-group: the last device leaves with owner_cnt still set', () => {
    const leave = on('t5', 'iommu-core:iommu_release_device', ['driver-core:device_del']);
    const base = [...groupWith(), ...bind('e1000e', true)];
    const bad = check([...base, ...leave.locked(GM, leave.write(G, 'devices', [], [D1]))]);
    expect(sigs(bad)).toContain('invariant-violation:empty-group:iommu-core.iommu_release_device');
    const f = bad.findings.find((x) => x.signature.includes(':empty-group:')) as Finding;
    expect(f.title).toBe('invariant-violation in iommu-core.iommu_release_device');
    expect(f.report).toContain('group iommu_group.1 has no devices but owner_cnt=1');
    // unbound first (owner_cnt back to 0), then removed: fine
    const unuse = on('t5', 'iommu-core:iommu_device_unuse_default_domain', ['driver-core:device_release_driver']);
    const good = check([
      ...base,
      probe.lock(DL1), probe.write(D1, 'bound', false, true), ...unuse.locked(GM, unuse.write(G, 'owner_cnt', 0, 1)), probe.write(D1, 'driver', null, 'e1000e'), probe.unlock(DL1),
      ...leave.locked(GM, leave.write(G, 'devices', [], [D1])),
    ]);
    expect(sigs(good)).toEqual([]);
  });

  // ---- §8.2 item 3 ---------------------------------------------------------------------------

  it('user-owner-no-kernel-driver: a user owner while a kernel driver is bound', () => {
    const claimOver = (cnt: number): TraceEvent[] =>
      claim.locked(GM, claim.write(G, 'domain', BLOCKED, DMA), claim.write(G, 'owner', 'vfio_group.1', null), claim.write(G, 'owner_cnt', 1, cnt));
    const bad = check([...groupWith(), ...bind('e1000e', true), ...claimOver(1)]);
    expect(sigs(bad)).toEqual(['invariant-violation:user-owner-no-kernel-driver:iommu-core.iommu_group_claim_dma_owner']);
    expect(bad.findings[0]?.report).toContain('group iommu_group.1: owner=vfio_group.1 owner_cnt=1, bound kernel drivers: 1 (0000:00:02.0 e1000e)');
    expect(sigs(check([...groupWith(), ...bind('vfio-pci', false), ...claimOver(0)]))).toEqual([]);
  });

  // ---- §8.2 item 4 ---------------------------------------------------------------------------

  it('owner-cnt: a kernel driver bound without owner_cnt++ (B5)', () => {
    const bad = check([...groupWith(), ...bind('e1000e', false)]);
    expect(sigs(bad)).toEqual(['invariant-violation:owner-cnt:driver-core.really_probe']);
    const f = bad.findings[0] as Finding;
    expect(f.kind).toBe('invariant-violation');
    expect(f.actor).toBe('driver-core');
    expect(f.handler).toBe('really_probe');
    expect(f.tasks[0]?.held).toEqual([`#0: ${D1}->mutex (device_lock), taken at driver-core:really_probe`]);
    expect(f.report).toContain('iommu-lab: invariant violated: owner-cnt (docs/kernel-facts.md §8.2 item 4)');
    expect(f.report).toContain('group iommu_group.1: owner=(null) owner_cnt=0, bound kernel drivers: 1 (0000:00:02.0 e1000e)');
    expect(f.report).toContain(`last change: task t1 wrote ${D1}.bound at step`);
    expect(f.report).toContain(' driver-core:really_probe\n driver-core:bind_store\n');
    // reported at the device_lock release, the first point where the pair must agree
    expect(bad.at[0]).toBe(groupWith().length + 3);
    expect(sigs(check([...groupWith(), ...bind('e1000e', true)]))).toEqual([]);
    // a driver_managed_dma driver takes no claim
    expect(sigs(check([...groupWith(), ...bind('vfio-pci', false)]))).toEqual([]);
  });

  it('owner-cnt learns driver_managed_dma from a read when nobody wrote it', () => {
    const events = groupWith().slice(2); // no driver_register writes
    const readDmd = on('t1', 'pci:pci_dma_configure', ['driver-core:really_probe']).read('driver:vfio-pci', 'driver_managed_dma', true);
    expect(sigs(check([...events, probe.lock(DL1), probe.write(D1, 'driver', 'vfio-pci', null), readDmd, probe.write(D1, 'bound', true, false), probe.unlock(DL1)]))).toEqual([]);
  });

  // ---- §8.2 item 5 ---------------------------------------------------------------------------

  it('pasid-ownership: owner changes while a PASID is attached, judged at the write', () => {
    const sva = 'iommu_domain@t3#1';
    const attach = [iommufd.alloc(sva, 'iommu_domain'), ...iommufd.locked(GM, iommufd.write(G, 'pasid_array', { 1: sva }, {}))];
    const claimed = claim.locked(GM, claim.write(G, 'owner', 'iommufd_ctx.1', null), claim.write(G, 'owner_cnt', 1, 0));
    const bad = check([...groupWith(), ...attach, ...claimed]);
    expect(sigs(bad)).toEqual(['invariant-violation:pasid-ownership:iommu-core.iommu_group_claim_dma_owner']);
    expect(bad.findings[0]?.report).toContain(`owner (null) -> iommufd_ctx.1 while pasid_array is not empty (1 -> ${sva})`);
    // judged at the write, not at the unlock
    expect(bad.at[0]).toBe(groupWith().length + attach.length + 1);
    expect(sigs(check([...groupWith(), ...claimed]))).toEqual([]);
  });

  // ---- §8.2 item 6 ---------------------------------------------------------------------------

  it('reset-transition: a RID domain switch or PASID attach while resetting; teardown is allowed', () => {
    const paging = 'iommu_domain@t3#2';
    const prepare = [
      ...reset.locked(GM, reset.write(G, 'blocking_domain', BLOCKED, null), reset.write(G, 'resetting_domain', BLOCKED, null)),
      iommufd.alloc(paging, 'iommu_domain'),
    ];
    const switchDomain = on('t3', 'iommu-core:iommu_attach_group', ['iommufd:iommufd_device_attach']);
    const bad = check([...groupWith(), ...prepare, ...switchDomain.locked(GM, switchDomain.write(G, 'domain', paging, DMA))]);
    expect(sigs(bad)).toEqual(['invariant-violation:reset-transition:iommu-core.iommu_attach_group']);
    expect(bad.findings[0]?.report).toContain(`domain ${DMA} -> ${paging} while resetting_domain=${BLOCKED}`);
    const pasidAdd = check([...groupWith(), ...prepare, ...iommufd.locked(GM, iommufd.write(G, 'pasid_array', { 2: paging }, {}))]);
    expect(sigs(pasidAdd)).toEqual(['invariant-violation:reset-transition:iommu-core.iommu_attach_device_pasid']);
    // teardown: a PASID detach (entries removed) and domain = NULL
    const detach = on('t3', 'iommu-core:iommu_detach_device_pasid');
    const teardown = [
      ...groupWith(),
      ...iommufd.locked(GM, iommufd.write(G, 'pasid_array', { 2: DMA }, {})),
      ...prepare,
      ...detach.locked(GM, detach.write(G, 'pasid_array', {}, { 2: DMA })),
      ...detach.locked(GM, detach.write(G, 'domain', null, DMA)),
    ];
    expect(sigs(check(teardown))).toEqual([]);
    // the same switch after done() cleared resetting_domain
    const done = on('t4', 'iommu-core:pci_dev_reset_iommu_done', ['pci:pcie_flr']);
    const after = [...groupWith(), ...prepare, ...done.locked(GM, done.write(G, 'resetting_domain', null, BLOCKED)), ...switchDomain.locked(GM, switchDomain.write(G, 'domain', paging, DMA))];
    expect(sigs(check(after))).toEqual([]);
  });

  // ---- §8.2 items 7 and 8 --------------------------------------------------------------------

  it('freed-domain: a group left pointing at a freed domain', () => {
    const paging = 'iommu_domain@t3#2';
    const attach = on('t3', 'iommu-core:iommu_attach_group', ['vfio:vfio_iommu_type1_attach_group']);
    const put = on('t6', 'iommu-core:iommu_domain_free', ['vfio:vfio_iommu_type1_detach_group']);
    const attached = [...groupWith(), attach.alloc(paging, 'iommu_domain'), ...attach.locked(GM, attach.write(G, 'domain', paging, DMA))];
    const bad = check([...attached, put.free(paging)]);
    expect(sigs(bad)).toEqual(['invariant-violation:freed-domain:iommu-core.iommu_domain_free']);
    expect(bad.findings[0]?.report).toContain(`domain=${paging} was freed by task t6 at step ${attached.length}`);
    expect(bad.findings[0]?.report).toContain(`last change: task t6 freed ${paging} at step ${attached.length}`);
    // detach (back to the default domain) then free: fine
    expect(sigs(check([...attached, ...put.locked(GM, put.write(G, 'domain', DMA, paging)), put.free(paging)]))).toEqual([]);
    // freed first but switched away before group->mutex is dropped: never quiescent with the dangling pointer
    expect(sigs(check([...attached, put.lock(GM), put.free(paging), put.write(G, 'domain', DMA, paging), put.unlock(GM)]))).toEqual([]);
    // a pasid_array entry naming a freed domain
    const pasid = [...groupWith(), attach.alloc(paging, 'iommu_domain'), ...iommufd.locked(GM, iommufd.write(G, 'pasid_array', { 3: paging }, {})), put.free(paging)];
    const p = check(pasid);
    expect(sigs(p)).toEqual(['invariant-violation:freed-domain:iommu-core.iommu_domain_free']);
    expect(p.findings[0]?.report).toContain(`pasid_array[3]=${paging} was freed`);
  });

  it('freed-domain: an SVA domain freed while users > 0', () => {
    const sva = 'iommu_domain@t7#1';
    const bind = on('t7', 'iommu-core:iommu_sva_bind_device');
    const unbind = on('t8', 'iommu-core:iommu_sva_unbind_device');
    const bound = [bind.alloc(sva, 'iommu_domain'), bind.write(sva, 'users', 1, 0), bind.write(sva, 'users', 2, 1)];
    const bad = check([...bound, unbind.write(sva, 'users', 1, 2), unbind.free(sva)]);
    expect(sigs(bad)).toEqual(['invariant-violation:freed-domain:iommu-core.iommu_sva_unbind_device']);
    expect(bad.findings[0]?.report).toContain(`iommu_domain ${sva} freed with users=1`);
    expect(sigs(check([...bound, unbind.write(sva, 'users', 1, 2), unbind.write(sva, 'users', 0, 1), unbind.free(sva)]))).toEqual([]);
  });

  // ---- RMR: require_direct ---------------------------------------------------------------------

  it('require-direct-blocked: an RMR device parked on a blocked domain', () => {
    const di = `${D1}.iommu`;
    const probeDev = on('t0', 'iommu-core:iommu_create_device_direct_mappings', ['driver-core:device_add']);
    const rmr = [...groupWith(), boot.alloc(di, 'dev_iommu'), ...probeDev.locked(GM, probeDev.write(di, 'require_direct', true, false), probeDev.write(di, 'hw_domain', DMA, null))];
    // pci_dev_reset_iommu_prepare() attaches the blocking domain directly, bypassing the require_direct refusal
    const prepare = reset.locked(GM, reset.write(G, 'blocking_domain', BLOCKED, null), reset.write(di, 'hw_domain', BLOCKED, DMA), reset.write(G, 'resetting_domain', BLOCKED, null));
    const bad = check([...rmr, ...prepare]);
    expect(sigs(bad)).toEqual(['invariant-violation:require-direct-blocked:iommu-core.pci_dev_reset_iommu_prepare']);
    expect(bad.findings[0]?.report).toContain(`${D1}: require_direct set, hardware translates its RID through ${BLOCKED}`);
    expect(bad.findings[0]?.report).toContain(' require_direct=1 hw_domain=vtd0.blocked_domain');
    // the shared-word variant: require_direct is bit 4 of dev_iommu->bits; the group's own (paging) blocking domain counts too
    const ownBlocking = 'iommu_domain@t4#9';
    const word = [
      ...groupWith(), boot.alloc(di, 'dev_iommu'),
      ...probeDev.locked(GM, probeDev.write(di, 'bits', 4, 0), probeDev.write(di, 'hw_domain', DMA, null)),
      reset.alloc(ownBlocking, 'iommu_domain'),
      ...reset.locked(GM, reset.write(G, 'blocking_domain', ownBlocking, null), reset.write(di, 'hw_domain', ownBlocking, DMA)),
    ];
    expect(sigs(check(word))).toEqual(['invariant-violation:require-direct-blocked:iommu-core.pci_dev_reset_iommu_prepare']);
    // a device without require_direct may sit on the blocked domain; and released to identity is fine
    const plain = [...groupWith(), boot.alloc(di, 'dev_iommu'), ...probeDev.locked(GM, probeDev.write(di, 'hw_domain', DMA, null)), ...prepare];
    expect(sigs(check(plain))).toEqual([]);
    const release = on('t5', 'iommu-core:iommu_deinit_device', ['driver-core:device_del']);
    expect(sigs(check([...rmr, ...release.locked(GM, release.write(di, 'hw_domain', 'vtd0.identity_domain', DMA), release.write(G, 'devices', [], [D1]), release.write(G, 'domain', null, DMA), release.write(G, 'default_domain', null, DMA))]))).toEqual([]);
    // released to blocked after leaving the group: still its former group's RID
    expect(sigs(check([...rmr, ...release.locked(GM, release.write(G, 'devices', [], [D1]), release.write(G, 'domain', null, DMA), release.write(G, 'default_domain', null, DMA), release.write(di, 'hw_domain', BLOCKED, DMA))])))
      .toEqual(['invariant-violation:require-direct-blocked:iommu-core.iommu_deinit_device']);
  });

  // ---- quiescence --------------------------------------------------------------------------------

  it('a transient violation under group->mutex fixed before the unlock is not reported', () => {
    const leave = on('t5', 'iommu-core:iommu_release_device');
    const base = [...groupWith(), ...bind('e1000e', true)];
    const fixed = [leave.lock(GM), leave.write(G, 'devices', [], [D1]), leave.write(G, 'owner_cnt', 0, 1), leave.unlock(GM)];
    expect(sigs(check([...base, ...fixed]))).toEqual([]);
    // the same state left at the unlock is reported, at the unlock
    const left = [leave.lock(GM), leave.write(G, 'devices', [], [D1]), leave.unlock(GM)];
    const r = check([...base, ...left]);
    expect(sigs(r)).toEqual(['invariant-violation:empty-group:iommu-core.iommu_release_device']);
    expect(r.at[0]).toBe(base.length + left.length - 1);
  });

  it('the ownership count is judged only once the member\'s device_lock is dropped too', () => {
    // bound=true before dma_configure's owner_cnt++, all under device_lock: transient
    const early = [probe.lock(DL1), probe.write(D1, 'driver', 'e1000e', null), probe.write(D1, 'bound', true, false), ...useDefault.locked(GM, useDefault.write(G, 'owner_cnt', 1, 0)), probe.unlock(DL1)];
    expect(sigs(check([...groupWith(), ...early]))).toEqual([]);
    // a second member's device_lock counts too
    const two = groupWith([D1, D2]);
    const p2 = on('t9', 'driver-core:really_probe');
    const dl2 = deviceLock(D2);
    const r = check([...two, p2.lock(dl2), ...bind('e1000e', false), p2.unlock(dl2)]);
    expect(sigs(r)).toEqual(['invariant-violation:owner-cnt:driver-core.really_probe']);
    expect(r.at[0]).toBe(two.length + 1 + bind('e1000e', false).length);
  });

  it('a violation is reported once per (invariant, group)', () => {
    const r = check([...groupWith(), ...bind('e1000e', false), ...bind('e1000e', false), probe.write(D1, 'bound', true, true)]);
    expect(sigs(r)).toEqual(['invariant-violation:owner-cnt:driver-core.really_probe']);
  });

  // ---- options ---------------------------------------------------------------------------------

  it('skip turns an invariant off; unknown ids are refused', () => {
    const events = [...groupWith(), ...bind('e1000e', false)];
    expect(sigs(check(events, { skip: ['owner-cnt'] }))).toEqual([]);
    expect(sigs(check(events, { skip: ['empty-group'] }))).toEqual(['invariant-violation:owner-cnt:driver-core.really_probe']);
    expect(() => new InvariantsChecker({ skip: ['owner_cnt'] })).toThrow(/unknown invariant/);
  });

  // ---- signatures ------------------------------------------------------------------------------

  it('the same bug in two event orders, with other task and object ids, has one signature', () => {
    // order A: group 1, the unrelated group 2 set up afterwards
    const g2 = 'iommu_group.2';
    const other = on('t11', 'iommu-core:iommu_probe_device', ['driver-core:device_add']);
    const group2 = [other.alloc(g2, 'iommu_group'), ...other.locked(groupMutex(g2), other.write(g2, 'devices', ['0000:00:1f.0'], []))];
    const a = check([...groupWith(), ...group2, ...bind('e1000e', false)]);
    // order B: group 2 first, the probe of D1 interleaved with it, another task id
    const probe2 = on('t42', 'driver-core:really_probe', ['driver-core:__device_attach_async_helper']);
    const b = check([
      ...group2, ...groupWith(),
      probe2.lock(DL1), probe2.write(D1, 'driver', 'e1000e', null),
      other.lock(groupMutex(g2)), other.write(g2, 'owner_cnt', 0, 0), other.unlock(groupMutex(g2)),
      probe2.write(D1, 'bound', true, false), probe2.unlock(DL1),
    ]);
    expect(sigs(a)).toEqual(['invariant-violation:owner-cnt:driver-core.really_probe']);
    expect(sigs(b)).toEqual(sigs(a));
    expect(a.findings[0]?.signature).not.toMatch(/t\d|iommu_group\.|step|0000:/);
  });
});

// ---- a scenario's replacement of an invariant (issue 14 item 5) ------------------------------------

describe('invariants replaced or turned off by a scenario', () => {
  const paging = 'iommu_domain@t3#2';
  const prepare = [
    ...reset.locked(GM, reset.write(G, 'blocking_domain', BLOCKED, null), reset.write(G, 'resetting_domain', BLOCKED, null)),
    iommufd.alloc(paging, 'iommu_domain'),
  ];
  const switchDomain = on('t3', 'iommu-core:iommu_attach_group', ['iommufd:iommufd_device_attach']);
  const ridSwitch = [...groupWith(), ...prepare, ...switchDomain.locked(GM, switchDomain.write(G, 'domain', paging, DMA))];
  const pasidAdd = [...groupWith(), ...prepare, ...iommufd.locked(GM, iommufd.write(G, 'pasid_array', { 2: paging }, {}))];
  // the patch's rule: a RID domain switch may pass the reset fence (a nofail detach does), a PASID attach still may not
  const replace: InvariantsOptions['replace'] = {
    'reset-transition': {
      name: 'reset-transition-rid-passes',
      rule: 'no PASID attach/replace while resetting_domain != NULL; RID domain switches pass the fence',
      judge: ((s: Shadow, c: Change, old: unknown) => (c.field === 'domain' ? null : resetTransition(s, c, old))) as WriteRule,
    },
  };

  it('the old rule\'s violation is gone and the new rule\'s is reported under its own name', () => {
    expect(sigs(check(ridSwitch))).toEqual(['invariant-violation:reset-transition:iommu-core.iommu_attach_group']);
    expect(sigs(check(ridSwitch, { replace }))).toEqual([]);
    const r = check(pasidAdd, { replace });
    expect(sigs(r)).toEqual(['invariant-violation:reset-transition-rid-passes:iommu-core.iommu_attach_device_pasid']);
    expect(r.findings[0]!.report).toContain('invariant violated: reset-transition-rid-passes (the scenario\'s replacement of reset-transition');
    expect(r.findings[0]!.report).toContain('rule: no PASID attach/replace while resetting_domain != NULL; RID domain switches pass the fence');
  });

  it('turned off: no violation at all', () => {
    expect(sigs(check(pasidAdd, { skip: ['reset-transition'] }))).toEqual([]);
  });
});
