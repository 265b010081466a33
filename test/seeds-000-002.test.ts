import { describe, expect, it } from 'vitest';
import { PasidContractChecker } from '../checkers/api-contract/pasid-contract.ts';
import type { Checker } from '../checkers/checker.ts';
import { isErrno } from '../protocol/errno.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import type { ActorId } from '../protocol/ids.ts';
import { objId, taskId } from '../protocol/ids.ts';
import { groupMutex } from '../protocol/lock-classes.ts';
import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import { scenarioFromDocument } from '../scenarios/format/document.ts';
import { kernelCheckers } from '../scenarios/kernel/checkers.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import { F1, SEED000_DOCUMENT, seed000SiblingBind } from '../scenarios/seeds/seed-000.ts';
import { NIC, SVA_TARGET, seed001ReleaseOwnerWithPasid, seed001RidDetachKeepsPasid } from '../scenarios/seeds/seed-001.ts';
import { FB_PAGE, seed002SharedAttach } from '../scenarios/seeds/seed-002.ts';
import { feed } from './helpers/feed.ts';

/**
 * Seeds 000–002 beyond their finding kinds (test/seeds.test.ts checks
 * those under compare): the return values that show each fixed design
 * really ran the workload — the refusal in some schedules, success in
 * others — the errnos the table names, and the reports behind the kinds.
 * Seeds and schedule counts are pinned.
 */

interface Execution {
  readonly findings: readonly Finding[];
  /** Each root task's results with errnos as their names. */
  readonly results: Readonly<Record<string, unknown>>;
}

/** Errnos by name, everything else as it is, recursively (task results are lists of lists). */
function plain(v: unknown): unknown {
  if (isErrno(v)) return v.errno;
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null && 'ret' in v) return plain((v as { ret: unknown }).ret);
  return v;
}

/** Every execution of `schedules` under the portfolio strategy (as `run` explores), with the scenario's checkers or `checkers`. */
async function executions(s: Scenario, v: VariantAssignment, schedules: number, checkers?: () => readonly Checker[]): Promise<Execution[]> {
  const program = s.program(v);
  const host = await InlineHost.create(program);
  const out: Execution[] = [];
  try {
    await explore(host, program, makeStrategy('portfolio', 1), {
      seed: 1, schedules, checkers: checkers ?? s.checkers!,
      onExecution: (r) => void out.push({ findings: r.findings, results: Object.fromEntries(Object.entries(r.results).map(([t, x]) => [t, plain(x)])) }),
    });
  } finally {
    await host.close();
  }
  return out;
}

const kinds = (xs: readonly Execution[]): string[] => [...new Set(xs.flatMap((x) => x.findings.map((f) => f.kind)))].sort();
const finding = (xs: readonly Execution[], kind: string): Finding | undefined => xs.flatMap((x) => x.findings).find((f) => f.kind === kind);

describe('seed 000: VFIO claims a group while a kernel driver binds to the sibling', () => {
  // proc:qemu's results: open group, open container, SET_CONTAINER, SET_IOMMU, MAP_DMA; bind's: the bind write (its length, shown as 0 here), then the driver's [dma_map, dma]
  const setContainer = (x: Execution): unknown => (x.results['proc:qemu'] as unknown[])[2];
  // driver.bind is write(2) of the device name to drivers/nic/bind through kernfs: the bytes written on success
  const bind = (x: Execution): unknown => { const r = (x.results['bind'] as unknown[])[0]; return r === F1.length ? 0 : r; };

  it('owner-cnt (5.19+): the bind gets -EBUSY in some schedules, VFIO_GROUP_SET_CONTAINER -EPERM in others; clean with every §8.2 invariant on', async () => {
    const xs = await executions(seed000SiblingBind, { 'dma-owner': 'owner-cnt' }, 80, () => kernelCheckers());
    expect(kinds(xs)).toEqual([]);
    const outcomes = new Set(xs.map((x) => `bind ${String(bind(x))}, SET_CONTAINER ${String(setContainer(x))}`));
    expect(outcomes).toContain('bind EBUSY, SET_CONTAINER 0');
    expect(outcomes).toContain('bind 0, SET_CONTAINER EPERM');
    // never both in at once, unless QEMU had exited (released the group) before the bind
    for (const x of xs) {
      if (bind(x) === 0 && setContainer(x) === 0) expect((x.results['bind'] as unknown[][])[1]![1]).toMatchObject({ outcome: 'translated' });
    }
  });

  it('viable-scan-unlocked (the RFC): the kernel driver DMAs in the user-owned group; the scan reads device.driver without device_lock', async () => {
    const xs = await executions(seed000SiblingBind, { 'dma-owner': 'viable-scan-unlocked' }, 60);
    expect(kinds(xs)).toEqual(['data-race', 'isolation-breach', 'unguarded-access']);
    expect(finding(xs, 'isolation-breach')!.signature).toMatch(/^isolation-breach\|kernel-driver-in-user-group\|/);
    expect(finding(xs, 'unguarded-access')!.report).toContain('device.driver');
    // the breach schedules are those in which both sides succeeded
    const breached = xs.filter((x) => x.findings.some((f) => f.kind === 'isolation-breach'));
    for (const x of breached) expect([bind(x), setContainer(x)]).toEqual([0, 0]);
  });

  it('notifier-bug-on (before 5.19): the bind is caught after the probe by the notifier\'s BUG_ON, and the driver never gets to its DMA', async () => {
    const xs = await executions(seed000SiblingBind, { 'dma-owner': 'notifier-bug-on' }, 60);
    expect(kinds(xs)).toEqual(['kernel-bug']);
    expect(finding(xs, 'kernel-bug')!.report).toContain('vfio_iommu_group_notifier');
    for (const x of xs.filter((y) => y.findings.length > 0)) expect(x.results['bind']).toBeUndefined();
  });

  it('is a scenario document: show prints it and it compiles back to the same programs', () => {
    const again = scenarioFromDocument(JSON.parse(JSON.stringify(SEED000_DOCUMENT)), 'show.json');
    for (const v of ['viable-scan-unlocked', 'notifier-bug-on', 'owner-cnt']) {
      expect(again.program({ 'dma-owner': v })).toEqual(seed000SiblingBind.program({ 'dma-owner': v }));
    }
    expect(seed000SiblingBind.document).toBe(SEED000_DOCUMENT);
  });
});

describe('seed 001: attach RID d1, bind SVA d2 on a PASID, detach d1', () => {
  // the driver's results: alloc, map, attach, bind, DMA on the PASID, detach, DMA on the RID, DMA on the PASID, unbind
  const run = async (unit: string): Promise<{ xs: Execution[]; r: unknown[] }> => {
    const xs = await executions(seed001RidDetachKeepsPasid, { unit }, 3);
    return { xs, r: (xs[0]!.results['driver'] as unknown[][])[0]! };
  };
  const target = (r: unknown): unknown => (r as { target: unknown }).target;

  for (const unit of ['vtd@7.0', 'smmu-v3@7.0']) {
    it(`${unit}: (a) the RID returns to the default domain, the PASID keeps translating`, async () => {
      const { xs, r } = await run(unit);
      expect(kinds(xs)).toEqual([]);
      expect(r.slice(0, 4).every((x) => !(typeof x === 'string' && /^E[A-Z]/.test(x)))).toBe(true);
      expect(target(r[4])).toBe(SVA_TARGET);
      expect(r[5]).toBe(0);
      expect(r[6]).toMatchObject({ outcome: 'fault' }); // the default DMA domain maps nothing at RID_IOVA
      expect(target(r[7])).toBe(SVA_TARGET);
    });
  }

  it('smmu-v3@5.10: (c) the driver refuses the detach with -EBUSY; the core WARNs, the RID stays on d1, the PASID keeps translating', async () => {
    const { xs, r } = await run('smmu-v3@5.10');
    expect(kinds(xs)).toEqual(['kernel-warn']);
    expect(finding(xs, 'kernel-warn')!.report).toMatch(/__iommu_group_set_domain_nofail: WARN_ON\(EBUSY\)/);
    expect(target(r[6])).toBe(`${NIC}-d1`);
    expect(target(r[7])).toBe(SVA_TARGET);
  });

  it('amd-vi@7.0: (b) the detach destroys the GCR3 table: PASID DMA faults while pasid_array still lists the bond', async () => {
    const { xs, r } = await run('amd-vi@7.0');
    expect(kinds(xs)).toEqual(['api-nonconformance']);
    expect(target(r[4])).toBe(SVA_TARGET);
    expect(r[7]).toMatchObject({ outcome: 'fault', domain: null });
    const report = finding(xs, 'api-nonconformance')!.report;
    expect(report).toContain('on PASID 1: the unit resolved it to no domain (fault)');
    expect(report).toContain('The RID domain last changed');
    expect(report).toContain('iommu_detach_device');
  });

  it('releasing DMA ownership with the PASID attached: a WARN, and the group stays owned (another owner\'s claim -EPERM)', async () => {
    const warn = await executions(seed001ReleaseOwnerWithPasid, { release: 'with-pasid-attached' }, 3);
    expect(kinds(warn)).toEqual(['kernel-warn']);
    expect(finding(warn, 'kernel-warn')!.report).toContain('WARN_ON(!xa_empty(&group->pasid_array))');
    const r = (warn[0]!.results['owner'] as unknown[][])[0]!;
    expect(r[0]).toBe(0);
    expect(r.at(-1)).toBe('EPERM');
    const clean = await executions(seed001ReleaseOwnerWithPasid, { release: 'after-pasid-detach' }, 3);
    expect(kinds(clean)).toEqual([]);
    expect((clean[0]!.results['owner'] as unknown[][])[0]!.at(-1)).toBe(0);
  });
});

describe('seed 002: a shared domain in a Tegra-like group, a VFIO claim and a different domain', () => {
  // drm: alloc, map, attach dc0, attach dc1, DMA dc0, DMA dc1; vfio: claim; other: alloc, attach
  const drm = (x: Execution): unknown[] => (x.results['drm'] as unknown[][])[0]!;
  const claim = (x: Execution): unknown => (x.results['vfio'] as unknown[][])[0]![1];
  const other = (x: Execution): unknown => (x.results['other'] as unknown[][])[0]![1];

  it('singleton-only (what merged): every attach is -EINVAL; clean with the owner-cnt invariant on too', async () => {
    const xs = await executions(seed002SharedAttach, { 'shared-attach': 'singleton-only' }, 40, () => kernelCheckers());
    expect(kinds(xs)).toEqual([]);
    for (const x of xs) expect([drm(x)[2], drm(x)[3], other(x)]).toEqual(['EINVAL', 'EINVAL', 'EINVAL']);
  });

  it('shared-owner-cnt: the same domain joins, a different one is -EBUSY, VFIO\'s claim -EPERM — or VFIO first and the attaches -EPERM', async () => {
    const xs = await executions(seed002SharedAttach, { 'shared-attach': 'shared-owner-cnt' }, 80);
    expect(kinds(xs)).toEqual([]);
    const outcomes = new Set(xs.map((x) => JSON.stringify([drm(x)[2], drm(x)[3], other(x), claim(x)])));
    expect(outcomes).toContain(JSON.stringify([0, 0, 'EBUSY', 'EPERM']));
    expect(outcomes).toContain(JSON.stringify(['EPERM', 'EPERM', 'EPERM', 0]));
    for (const x of xs) {
      if (drm(x)[2] === 0) expect(drm(x)[4]).toMatchObject({ outcome: 'translated', target: FB_PAGE });
    }
  });

  it('shared-ignores-owner: the attach switches the user-owned group and the controllers reach kernel memory', async () => {
    const xs = await executions(seed002SharedAttach, { 'shared-attach': 'shared-ignores-owner' }, 40);
    expect(kinds(xs)).toEqual(['isolation-breach']);
    expect(finding(xs, 'isolation-breach')!.signature).toMatch(/^isolation-breach\|user-device-kernel-memory\|/);
    for (const x of xs.filter((y) => y.findings.length > 0)) expect([claim(x), drm(x)[2]]).toEqual([0, 0]);
  });
});

describe('the PASID contract checker', () => {
  const actor = 'iommu-core' as ActorId;
  const ev = (task: string, stack: string, e: object): TraceEvent => ({ task: taskId(task), actor, stack: [stack], ...e }) as unknown as TraceEvent;
  const write = (obj: string, field: string, value: unknown): TraceEvent =>
    ev('t', 'iommu-core:x', { ev: 'access', obj: objId(obj), field, op: 'write', guard: null, lockless: false, value });
  const G = 'iommu_group.1';
  const mutex: LockRef = groupMutex(G);
  const setup = [write(G, 'devices', ['d']), write(G, 'pasid_array', { 1: 'dom' })];
  const dma = (domain: string | null): TraceEvent => ev('dev', 'unit:u:dma', { ev: 'dma', dev: 'd', iova: 0x5000, pasid: 1, outcome: domain === null ? 'fault' : 'translated', target: null, domain });

  it('reports a PASID the core lists but the unit does not translate through its domain', () => {
    expect(feed(new PasidContractChecker(), [...setup, dma('dom')]).findings).toEqual([]);
    const f = feed(new PasidContractChecker(), [...setup, dma(null)]).findings;
    expect(f.map((x) => x.kind)).toEqual(['api-nonconformance']);
    expect(f[0]!.report).toContain('domain dom attached to PASID 1 of iommu_group.1');
  });

  it('stays silent while the group mutex is held, during a reset, and for a PASID the core does not list', () => {
    const held = [ev('t', 'iommu-core:x', { ev: 'lock.acquired', lock: mutex, mode: 'write', try: false, ok: true })];
    expect(feed(new PasidContractChecker(), [...setup, ...held, dma(null)]).findings).toEqual([]);
    expect(feed(new PasidContractChecker(), [...setup, write(G, 'resetting_domain', 'blocked'), dma(null)]).findings).toEqual([]);
    expect(feed(new PasidContractChecker(), [write(G, 'devices', ['d']), dma(null)]).findings).toEqual([]);
  });
});
