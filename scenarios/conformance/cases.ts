import { RMR_IOVA } from '../../actors/iommu-core/variants/reset-blocking.ts';
import { identityDomainOf } from '../../protocol/iommu-unit.ts';
import { directRegionPage, userPage } from '../../hardware/memory.ts';
import { BROKEN, CONTRACT, deviation } from './case.ts';
import type { CaseProgram, CaseRun, ConformanceCase, Judgement } from './case.ts';
import { A, B, F0, F1, R, UNIT, hasMultiDeviceGroups } from './machine.ts';
import type { UnitUnderTest } from './machine.ts';
import { MODULE, PASID_IOVA, RID_IOVA, Script, dmaWord, ok, pagingDomain, pasidUse, reached, ret, retWord, stopped } from './script.ts';

/**
 * The conformance cases: docs/kernel-facts.md §7.3's eight, seed 001's
 * question, and the issue's additions. Each runs a small kernel program on
 * the unit under test and judges what the unit did against the core's
 * contract. Every case is deterministic except `replace-no-third-domain`,
 * whose two tasks race under a few schedules.
 */

const OWNER = MODULE;
const userPg = (what: string): string => userPage(OWNER, what);

/** The main task's script and results. */
const mainScript = (p: CaseProgram): Script => p.tasks[0]!.script;
const resultsOf = (run: CaseRun | undefined, task = 't'): readonly unknown[] | undefined => run?.results[task];

function single(s: Script, opts: Omit<CaseProgram, 'tasks'> = {}): CaseProgram {
  return { tasks: [{ id: 't', script: s }], ...opts };
}

const warned = (run: CaseRun | undefined, site: string): boolean => (run?.findings ?? []).some((f) => f.kind === 'kernel-warn' && f.report.includes(site));

/** The task did not finish: say where it stopped. */
function unfinished(run: CaseRun | undefined): Judgement {
  const f = run?.findings.find((x) => x.kind === 'protocol-error' || x.kind === 'actor-crash' || x.kind === 'kernel-bug');
  return { observed: `the program did not complete (${run?.outcome ?? 'not run'}${f !== undefined ? `: ${f.title}` : ''})`, verdict: BROKEN };
}

/**
 * Seed 001 and §7.3 #1: a RID change while a PASID is attached. (a) the
 * RID moves and the PASID keeps translating — the core's contract; (b) the
 * RID moves and the PASID stops translating; (c) the RID change is refused.
 */
function judgeRidChange(o: {
  readonly change: unknown; readonly before: unknown; readonly rid: unknown; readonly after: unknown;
  readonly page: string; readonly pasid: number; readonly oldRidPage: string | null; readonly ridMoved: (r: unknown) => boolean;
}): Judgement {
  if (!reached(o.before, o.page)) return { observed: `the PASID never translated (${dmaWord(o.before)})`, verdict: BROKEN };
  const refused = o.change === 'EBUSY' || (o.oldRidPage !== null && reached(o.rid, o.oldRidPage));
  if (refused) {
    const how = o.change === 'EBUSY' ? 'attach -EBUSY' : 'detach refused (-EBUSY, nofail WARN)';
    const v = reached(o.after, o.page) ? deviation('c') : BROKEN;
    return { observed: `(c) RID change refused: ${how}; RID ${dmaWord(o.rid)}; PASID ${o.pasid} ${dmaWord(o.after)}`, verdict: v };
  }
  if (o.change !== undefined && o.change !== 0) return { observed: `RID change failed: ${retWord(o.change)}`, verdict: BROKEN };
  if (!o.ridMoved(o.rid)) return { observed: `RID did not move: ${dmaWord(o.rid)}`, verdict: BROKEN };
  if (reached(o.after, o.page)) return { observed: `(a) RID ${dmaWord(o.rid)}; PASID ${o.pasid} kept ${dmaWord(o.after)}`, verdict: CONTRACT };
  if (stopped(o.after)) return { observed: `(b) RID ${dmaWord(o.rid)}; PASID ${o.pasid} silently lost (${dmaWord(o.after)})`, verdict: deviation('b') };
  return { observed: `RID ${dmaWord(o.rid)}; PASID ${o.pasid} ${dmaWord(o.after)}`, verdict: BROKEN };
}

const defaultRidWord = (u: UnitUnderTest, passthrough: boolean): string => (passthrough && u.profile.identity ? 'bypass' : u.profile.kind === 'mock' ? 'blocked' : 'fault');

// ---- §7.3 #1 and seed 001: RID changes with PASIDs attached ---------------------------------------------------------

const ridAttachKeepsPasid: ConformanceCase = {
  name: 'rid-attach-keeps-pasid',
  source: 'kernel-facts §7.3 #1 (RID → paging)',
  expected: () => '(a) RID attach to a paging domain succeeds; the attached PASID keeps translating',
  allow: [],
  build(u) {
    const p = pasidUse(u, A, 'pd', `${A}-pasid`);
    const s = new Script().acts(p.attach).dma(A, PASID_IOVA, 'before', p.pasid)
      .acts(pagingDomain(A, 'd1', `${A}-d1`)).act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach')
      .dma(A, RID_IOVA, 'rid').dma(A, PASID_IOVA, 'after', p.pasid).acts(p.detach);
    return single(s);
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const use = pasidUse(u, A, 'pd', `${A}-pasid`);
    return judgeRidChange({
      change: ret(s, r, 'attach'), before: ret(s, r, 'before'), rid: ret(s, r, 'rid'), after: ret(s, r, 'after'),
      page: use.page, pasid: use.pasid, oldRidPage: null, ridMoved: (x) => reached(x, `${A}-d1`),
    });
  },
};

/**
 * A PASID attached while the RID sits on a paging domain, then
 * iommu_detach_device(): the RID goes back to the core domain (`user`: the
 * group is user-owned, so blocking; else the default domain, identity under
 * `passthrough`) and the PASID must keep translating.
 */
function detachKeepsPasid(o: {
  readonly name: string; readonly source: string; readonly expected: (u: UnitUnderTest) => string;
  readonly user: boolean; readonly passthrough: boolean; readonly preferSva: boolean; readonly ridMoved: (u: UnitUnderTest, r: unknown) => boolean;
}): ConformanceCase {
  const page = (what: string): string => (o.user ? userPg(what) : `${A}-${what}`);
  const use = (u: UnitUnderTest) => pasidUse(u, A, o.preferSva ? 'h' : 'pd', page('pasid'), o.preferSva ? { preferSva: true } : undefined);
  return {
    name: o.name, source: o.source, expected: o.expected, allow: ['kernel-warn'],
    build(u) {
      const p = use(u);
      let s = new Script();
      if (o.user) s = s.act({ do: 'iommu_device_claim_dma_owner', dev: A, owner: OWNER }, 'claim');
      s = s.acts(pagingDomain(A, 'd1', page('d1'))).act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach')
        .acts(p.attach).dma(A, PASID_IOVA, 'before', p.pasid)
        .act({ do: 'iommu_detach_device', dev: A, domain: 'd1' }, 'detach')
        .dma(A, RID_IOVA, 'rid').dma(A, PASID_IOVA, 'after', p.pasid).acts(p.detach);
      if (o.user) s = s.act({ do: 'iommu_device_release_dma_owner', dev: A });
      return single(s, o.passthrough ? { passthrough: true } : {});
    },
    judge(u, p, [run]) {
      const s = mainScript(p);
      const r = resultsOf(run);
      if (r === undefined) return unfinished(run);
      if (o.user && (ret(s, r, 'claim') !== 0 || ret(s, r, 'attach') !== 0)) {
        return { observed: `set-up failed: claim ${retWord(ret(s, r, 'claim'))}, attach ${retWord(ret(s, r, 'attach'))}`, verdict: BROKEN };
      }
      if (ret(s, r, 'attach') !== 0) return { observed: `the first RID attach failed: ${retWord(ret(s, r, 'attach'))}`, verdict: BROKEN };
      const x = use(u);
      return judgeRidChange({
        change: undefined, before: ret(s, r, 'before'), rid: ret(s, r, 'rid'), after: ret(s, r, 'after'),
        page: x.page, pasid: x.pasid, oldRidPage: page('d1'), ridMoved: (v) => o.ridMoved(u, v),
      });
    },
  };
}

const ridDetachKeepsPasid = detachKeepsPasid({
  name: 'rid-detach-keeps-pasid',
  source: 'seed 001 (attach RID d1, bind PASID d2, detach d1)',
  expected: (u) => `(a) after detach the RID is on the default domain (${defaultRidWord(u, false)} at IOVA 0x1000) and the SVA/PASID bond keeps translating`,
  user: false, passthrough: false, preferSva: true, ridMoved: (u, x) => dmaWord(x) === defaultRidWord(u, false),
});

const ridBlockKeepsPasid = detachKeepsPasid({
  name: 'rid-block-keeps-pasid',
  source: 'kernel-facts §7.3 #1 (RID → blocked)',
  expected: () => '(a) in a user-owned group, detaching the RID blocks it; the attached PASID keeps translating',
  user: true, passthrough: false, preferSva: false, ridMoved: (_u, x) => dmaWord(x) === 'blocked',
});

const ridIdentityKeepsPasid = detachKeepsPasid({
  name: 'rid-identity-keeps-pasid',
  source: 'kernel-facts §7.3 #1 (RID → identity)',
  expected: (u) => `(a) with identity default domains, detaching the RID returns it to ${u.profile.identity ? 'identity (bypass)' : 'the default domain (blocked: no identity domain)'}; the PASID keeps translating`,
  user: false, passthrough: true, preferSva: false, ridMoved: (u, x) => dmaWord(x) === defaultRidWord(u, true),
});

// ---- §7.3 #2: ownership and PASIDs ------------------------------------------------------------------------------

const claimWithPasid: ConformanceCase = {
  name: 'claim-with-pasid',
  source: 'kernel-facts §7.3 #2',
  expected: () => 'claiming DMA ownership with a PASID attached is -EBUSY; releasing it with a PASID attached WARNs and the group stays owned',
  allow: ['kernel-warn'],
  build(u) {
    const k = pasidUse(u, A, 'pk', `${A}-pasid`);
    const us = pasidUse(u, A, 'pu', userPg('pasid'));
    const s = new Script().acts(k.attach).act({ do: 'iommu_group_get', dev: A, as: 'g' })
      .act({ do: 'iommu_group_claim_dma_owner', group: 'g', owner: OWNER }, 'claim-busy')
      .acts(k.detach).act({ do: 'iommu_group_claim_dma_owner', group: 'g', owner: OWNER }, 'claim')
      // as iommufd requires: the RID on a PASID-capable domain before a PASID attach
      .acts(pagingDomain(A, 'd1', userPg('d1'))).act({ do: 'iommu_attach_group', group: 'g', domain: 'd1' })
      .acts(us.attach).act({ do: 'iommu_group_release_dma_owner', group: 'g' }, 'release-busy')
      .act({ do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'another-owner' }, 'still-owned')
      .acts(us.detach).act({ do: 'iommu_detach_group', group: 'g', domain: 'd1' })
      .act({ do: 'iommu_group_release_dma_owner', group: 'g' }).act({ do: 'iommu_group_put', group: 'g' });
    return single(s);
  },
  judge(_u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const busy = ret(s, r, 'claim-busy');
    const claim = ret(s, r, 'claim');
    const still = ret(s, r, 'still-owned');
    const warn = warned(run, 'iommu_group_release_dma_owner');
    const observed = `claim with PASID: ${retWord(busy)}; claim: ${retWord(claim)}; release with PASID: ${warn ? 'WARN' : 'no WARN'}, then another owner's claim: ${retWord(still)}`;
    return { observed, verdict: busy === 'EBUSY' && claim === 0 && warn && still === 'EPERM' ? CONTRACT : BROKEN };
  },
};

// ---- §7.3 #3 – #5: resets ----------------------------------------------------------------------------------------

const nofailDetachDuringReset: ConformanceCase = {
  name: 'nofail-detach-during-reset',
  source: 'kernel-facts §7.3 #3',
  expected: () => 'a nofail detach during a reset: DMA stays blocked until done, then the RID translates through whatever group->domain names (7.0.0 core: the detach is -EBUSY + WARN, so d1; a fixed core: the default domain)',
  allow: ['kernel-warn'],
  build() {
    const s = new Script().acts(pagingDomain(A, 'd1', `${A}-d1`)).act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach')
      .dma(A, RID_IOVA, 'before').core('pci_dev_reset_iommu_prepare', { dev: A }, 'prepare').dma(A, RID_IOVA, 'in1')
      .act({ do: 'iommu_detach_device', dev: A, domain: 'd1' }, 'detach').dma(A, RID_IOVA, 'in2')
      .core('pci_dev_reset_iommu_done', { dev: A }, 'done').dma(A, RID_IOVA, 'after');
    return single(s);
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    if (!reached(ret(s, r, 'before'), `${A}-d1`) || ret(s, r, 'prepare') !== 0) {
      return { observed: `set-up: RID ${dmaWord(ret(s, r, 'before'))}, prepare ${retWord(ret(s, r, 'prepare'))}`, verdict: BROKEN };
    }
    const refused = warned(run, '__iommu_group_set_domain_nofail');
    const in1 = ret(s, r, 'in1');
    const in2 = ret(s, r, 'in2');
    const after = ret(s, r, 'after');
    const want = refused ? reached(after, `${A}-d1`) : dmaWord(after) === defaultRidWord(u, false);
    const observed = `in the reset: ${dmaWord(in1)}, ${dmaWord(in2)}; detach ${refused ? 'refused (-EBUSY, WARN)' : 'done'}; after done: RID ${dmaWord(after)}`;
    return { observed, verdict: stopped(in1) && stopped(in2) && want ? CONTRACT : BROKEN };
  },
};

const resetNesting: ConformanceCase = {
  name: 'reset-nesting',
  source: 'kernel-facts §7.3 #4 (B8, with the stable depth counter)',
  expected: () => 'prepare nests; the RID and the PASID are blocked until the outermost done, then both translate again',
  allow: ['kernel-warn'],
  build(u) {
    const pu = pasidUse(u, A, 'pd', `${A}-pasid`);
    const s = new Script().acts(pagingDomain(A, 'd1', `${A}-d1`)).act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach')
      .acts(pu.attach).dma(A, PASID_IOVA, 'before', pu.pasid)
      .core('pci_dev_reset_iommu_prepare', { dev: A }, 'p1').core('pci_dev_reset_iommu_prepare', { dev: A }, 'p2')
      .dma(A, RID_IOVA, 'in-rid').dma(A, PASID_IOVA, 'in-pasid', pu.pasid)
      .core('pci_dev_reset_iommu_done', { dev: A }, 'd2').dma(A, RID_IOVA, 'mid-rid').dma(A, PASID_IOVA, 'mid-pasid', pu.pasid)
      .core('pci_dev_reset_iommu_done', { dev: A }, 'd1')
      .dma(A, RID_IOVA, 'after-rid').dma(A, PASID_IOVA, 'after-pasid', pu.pasid).acts(pu.detach);
    return single(s, { variants: { 'reset-nesting': 'depth-counter' } });
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const use = pasidUse(u, A, 'pd', `${A}-pasid`);
    if (ret(s, r, 'attach') !== 0 || !reached(ret(s, r, 'before'), use.page)) {
      return { observed: `set-up: attach ${retWord(ret(s, r, 'attach'))}, PASID ${dmaWord(ret(s, r, 'before'))}`, verdict: BROKEN };
    }
    const p1 = ret(s, r, 'p1');
    if (p1 === 'EBUSY') return { observed: '(c) prepare refused: attaching the blocking domain is -EBUSY while a PASID is live', verdict: deviation('c') };
    const inside = ['in-rid', 'in-pasid', 'mid-rid', 'mid-pasid'].map((l) => ret(s, r, l));
    const rid = ret(s, r, 'after-rid');
    const pas = ret(s, r, 'after-pasid');
    const observed = `prepare ${retWord(p1)}, nested ${retWord(ret(s, r, 'p2'))}; in the reset: ${inside.map(dmaWord).join(', ')}; after: RID ${dmaWord(rid)}, PASID ${dmaWord(pas)}`;
    if (ret(s, r, 'p2') !== 0 || !inside.every(stopped) || !reached(rid, `${A}-d1`)) return { observed, verdict: BROKEN };
    if (reached(pas, use.page)) return { observed, verdict: CONTRACT };
    return { observed: `${observed} — PASID not restored`, verdict: stopped(pas) ? deviation('pasids-lost') : BROKEN };
  },
};

const attachDuringReset: ConformanceCase = {
  name: 'attach-during-reset',
  source: 'kernel-facts §7.3 #5',
  expected: () => 'an attach inside the reset window is -EBUSY and DMA stays blocked; after done the attach succeeds',
  allow: [],
  build() {
    const s = new Script().acts(pagingDomain(A, 'd1', `${A}-d1`)).core('pci_dev_reset_iommu_prepare', { dev: A }, 'prepare')
      .act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach-in').dma(A, RID_IOVA, 'in')
      .core('pci_dev_reset_iommu_done', { dev: A }, 'done')
      .act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach').dma(A, RID_IOVA, 'after');
    return single(s);
  },
  judge(_u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const [ain, din, a, after] = [ret(s, r, 'attach-in'), ret(s, r, 'in'), ret(s, r, 'attach'), ret(s, r, 'after')];
    const observed = `attach in the reset: ${retWord(ain)}, DMA ${dmaWord(din)}; after done: attach ${retWord(a)}, DMA ${dmaWord(after)}`;
    return { observed, verdict: ain === 'EBUSY' && stopped(din) && a === 0 && reached(after, `${A}-d1`) ? CONTRACT : BROKEN };
  },
};

// ---- §7.3 #6: require_direct and the blocked domain ------------------------------------------------------------------

const requireDirect: ConformanceCase = {
  name: 'require-direct',
  source: 'kernel-facts §7.3 #6 (blocked domain with require_direct)',
  expected: (u) => u.profile.kind === 'mock'
    ? 'the mock has no domain that can hold a 1:1 region: the require_direct device is refused at probe (-EINVAL) and never translates'
    : 'DMA to the direct-mapped (RMR) region works; claiming ownership (the blocked domain) is -EINVAL; at release the RID is parked on identity, not blocked',
  allow: ['kernel-warn'],
  build() {
    const s = new Script().dma(R, RMR_IOVA, 'before').act({ do: 'iommu_device_claim_dma_owner', dev: R, owner: OWNER }, 'claim')
      .dma(R, RMR_IOVA, 'after').pci('pci_stop_and_remove_bus_device_locked', { dev: R }, 'remove');
    return single(s, { requireDirect: true });
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const [before, claim, after] = [ret(s, r, 'before'), ret(s, r, 'claim'), ret(s, r, 'after')];
    const release = lastHwDomain(run, R);
    const observed = `RMR DMA ${dmaWord(before)}; claim ${retWord(claim)}; RMR DMA ${dmaWord(after)}; parked at release on ${release ?? '(nothing)'}`;
    if (u.profile.kind === 'mock') return { observed, verdict: stopped(before) && claim === 'ENODEV' ? CONTRACT : BROKEN };
    const rmr = directRegionPage(R);
    return { observed, verdict: reached(before, rmr) && claim === 'EINVAL' && reached(after, rmr) && release === identityDomainOf(UNIT) ? CONTRACT : BROKEN };
  },
};

/** The domain the core last installed for `dev` (dev_iommu.hw_domain writes), from the trace. */
function lastHwDomain(run: CaseRun | undefined, dev: string): string | null {
  let last: string | null = null;
  for (const step of run?.trace ?? []) {
    for (const e of step.events) if (e.ev === 'access' && e.op === 'write' && e.obj === `${dev}.iommu` && e.field === 'hw_domain' && typeof e.value === 'string') last = e.value;
  }
  return last;
}

// ---- §7.3 #7: a failing set_dev_pasid ------------------------------------------------------------------------------

const MOCK_FAULT_PASID = 1024;

const pasidFailureRollback: ConformanceCase = {
  name: 'pasid-failure-rollback',
  source: 'kernel-facts §7.3 #7',
  expected: (u) => hasMultiDeviceGroups(u)
    ? 'set_dev_pasid failing on the second device of a two-device group rolls the first back (its PASID faults); a retry attaches both'
    : 'the mock\'s PASID 1024 hook fails a replace with -ENOMEM: the old domain keeps translating; a retry replaces',
  allow: [],
  build(u) {
    if (!hasMultiDeviceGroups(u)) {
      const s = new Script().acts(pagingDomain(A, 'old', `${A}-old`, PASID_IOVA)).acts(pagingDomain(A, 'new', `${A}-new`, PASID_IOVA))
        .act({ do: 'iommu_attach_device_pasid', dev: A, domain: 'old', pasid: MOCK_FAULT_PASID }, 'attach').dma(A, PASID_IOVA, 'b', MOCK_FAULT_PASID)
        .act({ do: 'iommu_replace_device_pasid', dev: A, domain: 'new', pasid: MOCK_FAULT_PASID }, 'replace1').dma(A, PASID_IOVA, 'c', MOCK_FAULT_PASID)
        .act({ do: 'iommu_replace_device_pasid', dev: A, domain: 'new', pasid: MOCK_FAULT_PASID }, 'replace2').dma(A, PASID_IOVA, 'd', MOCK_FAULT_PASID)
        .act({ do: 'iommu_detach_device_pasid', dev: A, domain: 'new', pasid: MOCK_FAULT_PASID });
      return single(s);
    }
    const pu = pasidUse(u, F0, 'pd', `${F0}-pasid`);
    const retry = pu.how === 'paging' ? [pu.attach[2]!] : pu.attach;
    const s = new Script().unit('fault_inject', { site: 'set_dev_pasid', dev: F1, nth: 1 }, 'inject')
      .acts(pu.attach.slice(0, -1)).act(pu.attach[pu.attach.length - 1]!, 'attach1').dma(F0, PASID_IOVA, 'f0', pu.pasid)
      .act(retry[retry.length - 1]!, 'attach2').dma(F0, PASID_IOVA, 'f0b', pu.pasid).dma(F1, PASID_IOVA, 'f1b', pu.pasid).acts(pu.detach);
    return single(s);
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) {
      const noHook = run?.findings.some((f) => f.kind === 'protocol-error' && f.report.includes('fault_inject')) === true;
      return noHook ? { observed: 'the unit has no fault_inject op (docs/hardware.md, plug-in units)', verdict: BROKEN } : unfinished(run);
    }
    if (!hasMultiDeviceGroups(u)) {
      const [a, b, r1, c, r2, d] = ['attach', 'b', 'replace1', 'c', 'replace2', 'd'].map((l) => ret(s, r, l));
      const observed = `attach ${retWord(a)} (${dmaWord(b)}); replace ${retWord(r1)} (${dmaWord(c)}); replace again ${retWord(r2)} (${dmaWord(d)})`;
      return { observed, verdict: a === 0 && reached(b, `${A}-old`) && r1 === 'ENOMEM' && reached(c, `${A}-old`) && r2 === 0 && reached(d, `${A}-new`) ? CONTRACT : BROKEN };
    }
    const pu = pasidUse(u, F0, 'pd', `${F0}-pasid`);
    const [a1, f0, a2, f0b, f1b] = ['attach1', 'f0', 'attach2', 'f0b', 'f1b'].map((l) => ret(s, r, l));
    const observed = `attach with F1 failing: ${retWord(a1)}, F0's PASID ${dmaWord(f0)}; retry ${ok(a2) ? 'ok' : retWord(a2)}: F0 ${dmaWord(f0b)}, F1 ${dmaWord(f1b)}`;
    return { observed, verdict: a1 === 'ENOMEM' && stopped(f0) && ok(a2) && reached(f0b, pu.page) && reached(f1b, pu.page) ? CONTRACT : BROKEN };
  },
};

// ---- §7.3 #8: replace never exposes a third domain ----------------------------------------------------------------

const DMA_ROUNDS = 16;

const replaceNoThirdDomain: ConformanceCase = {
  name: 'replace-no-third-domain',
  source: 'kernel-facts §7.3 #8',
  expected: () => 'while a PASID is replaced, its DMA reaches only the old or the new domain (or is discarded), never a third one',
  allow: [],
  build(u) {
    const pu = pasidUse(u, A, 'old', `${A}-old`);
    // the RID's own domain maps the same IOVA: a unit that fell back to the RID translation would reach it
    const s = new Script().acts(pagingDomain(A, 'rid', `${A}-rid`, PASID_IOVA)).act({ do: 'iommu_attach_device', dev: A, domain: 'rid' })
      .acts(pu.attach).acts(pagingDomain(A, 'new', `${A}-new`, PASID_IOVA))
      .act({ do: 'iommu_replace_device_pasid', dev: A, domain: 'new', pasid: pu.pasid }, 'replace').dma(A, PASID_IOVA, 'final', pu.pasid)
      .acts(pu.detach);
    // spread over the set-up and the replace: a DMA, then a preemption point, again and again
    const dma = new Script();
    for (let i = 0; i < DMA_ROUNDS; i++) dma.dma(A, PASID_IOVA, `dma${i}`, pu.pasid).act({ do: 'yield' });
    return { tasks: [{ id: 't', script: s }, { id: 'dma', script: dma }], schedules: 6 };
  },
  judge(u, p, runs) {
    const s = mainScript(p);
    const d = p.tasks[1]!.script;
    const pu = pasidUse(u, A, 'old', `${A}-old`);
    const allowed = new Set([`→ ${pu.page}`, `→ ${A}-new`, 'blocked', 'fault']);
    const seen = new Set<string>();
    const replaced = new Set<string>();
    for (const run of runs) {
      const r = resultsOf(run);
      const rd = resultsOf(run, 'dma');
      if (r === undefined || rd === undefined) return unfinished(run);
      replaced.add(retWord(ret(s, r, 'replace')));
      for (let i = 0; i < DMA_ROUNDS; i++) seen.add(dmaWord(ret(d, rd, `dma${i}`)));
      seen.add(dmaWord(ret(s, r, 'final')));
    }
    const third = [...seen].filter((x) => !allowed.has(x));
    const observed = `replace ${[...replaced].join('/')}; DMA over ${runs.length} schedules: ${[...seen].sort().join(', ')}`;
    return { observed, verdict: third.length === 0 ? CONTRACT : BROKEN };
  },
};

// ---- the issue's additions ----------------------------------------------------------------------------------------

const twoRidsOwnPasidTables: ConformanceCase = {
  name: 'two-rids-own-pasid-tables',
  source: 'issue 7: the same domain on two RIDs',
  expected: () => 'one domain attached to two RIDs translates for both; each RID\'s PASIDs are its own',
  allow: [],
  build(u) {
    const pa = pasidUse(u, A, 'pa', `${A}-p`, { mm: 'mm1' });
    const pb = pasidUse(u, B, 'pb', `${B}-p`, { mm: 'mm2' });
    const s = new Script().acts(pagingDomain(A, 'd1', 'shared-d1')).act({ do: 'iommu_attach_device', dev: A, domain: 'd1' }, 'attach-a')
      .act({ do: 'iommu_attach_device', dev: B, domain: 'd1' }, 'attach-b').acts(pa.attach).acts(pb.attach)
      .dma(A, RID_IOVA, 'rid-a').dma(B, RID_IOVA, 'rid-b')
      .dma(A, PASID_IOVA, 'a-own', pa.pasid).dma(B, PASID_IOVA, 'b-own', pb.pasid)
      .dma(A, PASID_IOVA, 'a-other', pb.pasid).dma(B, PASID_IOVA, 'b-other', pa.pasid)
      .acts(pa.detach).acts(pb.detach);
    return single(s);
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const pa = pasidUse(u, A, 'pa', `${A}-p`, { mm: 'mm1' });
    const pb = pasidUse(u, B, 'pb', `${B}-p`, { mm: 'mm2' });
    const [ra, rb, ao, bo, ax, bx] = ['rid-a', 'rid-b', 'a-own', 'b-own', 'a-other', 'b-other'].map((l) => ret(s, r, l));
    // with paging PASIDs both devices use PASID 1: "other" is the same number, and must reach the device's own domain
    const sameNumber = pa.pasid === pb.pasid;
    const otherOk = sameNumber ? reached(ax, pa.page) && reached(bx, pb.page) : stopped(ax) && stopped(bx);
    let observed = `RIDs: ${dmaWord(ra)}, ${dmaWord(rb)}; A PASID ${pa.pasid} ${dmaWord(ao)}; B PASID ${pb.pasid} ${dmaWord(bo)}`;
    if (!sameNumber) observed += `; A PASID ${pb.pasid} ${dmaWord(ax)}; B PASID ${pa.pasid} ${dmaWord(bx)}`;
    const verdict = ret(s, r, 'attach-a') === 0 && ret(s, r, 'attach-b') === 0 && reached(ra, 'shared-d1') && reached(rb, 'shared-d1')
      && reached(ao, pa.page) && reached(bo, pb.page) && otherOk ? CONTRACT : BROKEN;
    return { observed, verdict };
  },
};

const identityDomain: ConformanceCase = {
  name: 'identity-domain',
  source: 'issue 7: identity domain support',
  expected: (u) => u.profile.identity
    ? 'with iommu.passthrough the RID bypasses (identity), and a PASID still attaches and translates'
    : 'no identity domain (the mock): the default domain blocks the RID; a PASID still attaches and translates',
  allow: [],
  build(u) {
    const pu = pasidUse(u, A, 'pd', `${A}-pasid`);
    const s = new Script().dma(A, RID_IOVA, 'rid').acts(pu.attach).dma(A, PASID_IOVA, 'pasid', pu.pasid).acts(pu.detach);
    return single(s, { passthrough: true });
  },
  judge(u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const pu = pasidUse(u, A, 'pd', `${A}-pasid`);
    const [rid, pas] = [ret(s, r, 'rid'), ret(s, r, 'pasid')];
    const observed = `RID ${dmaWord(rid)}; PASID ${pu.pasid} ${dmaWord(pas)}`;
    return { observed, verdict: dmaWord(rid) === defaultRidWord(u, true) && reached(pas, pu.page) ? CONTRACT : BROKEN };
  },
};

const unmapSyncNoDma: ConformanceCase = {
  name: 'unmap-sync-no-dma',
  source: 'issue 7: no DMA through an unmapped IOVA after sync',
  expected: () => 'after iommu_unmap (unmap + iotlb_sync) DMA at that IOVA faults, though the IOTLB and the device-TLB had cached it',
  allow: [],
  build() {
    const s = new Script().acts(pagingDomain(A, 'd1', `${A}-d1`)).act({ do: 'iommu_attach_device', dev: A, domain: 'd1' })
      .dma(A, RID_IOVA, 'walk').dma(A, RID_IOVA, 'cached')
      .act({ do: 'iommu_unmap', dev: A, domain: 'd1', iova: RID_IOVA }, 'unmap').dma(A, RID_IOVA, 'after');
    return single(s);
  },
  judge(_u, p, [run]) {
    const s = mainScript(p);
    const r = resultsOf(run);
    if (r === undefined) return unfinished(run);
    const [w, c, un, after] = [ret(s, r, 'walk'), ret(s, r, 'cached'), ret(s, r, 'unmap'), ret(s, r, 'after')];
    const observed = `before: ${dmaWord(w)}, ${dmaWord(c)}; unmap ${retWord(un)}; after: ${dmaWord(after)}`;
    return { observed, verdict: reached(w, `${A}-d1`) && reached(c, `${A}-d1`) && un === 0 && dmaWord(after) === 'fault' ? CONTRACT : BROKEN };
  },
};

/** Every case, in report order. */
export const CASES: readonly ConformanceCase[] = [
  ridAttachKeepsPasid, ridDetachKeepsPasid, ridBlockKeepsPasid, ridIdentityKeepsPasid,
  claimWithPasid, nofailDetachDuringReset, resetNesting, attachDuringReset, requireDirect,
  pasidFailureRollback, replaceNoThirdDomain, twoRidsOwnPasidTables, identityDomain, unmapSyncNoDma,
];
