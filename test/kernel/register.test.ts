import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../runtime/input-error.ts';
import { scenarioFromDocument } from '../../scenarios/format/document.ts';
import { cli } from '../helpers/cli.ts';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { KNOWN, matchKnown } from '../../fuzz/known.ts';
import type { Finding } from '../../protocol/findings.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import type { LockClassName } from '../../protocol/lock-classes.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';
import { REGISTER_RACE_KNOWN, registerAsyncProbe, registerTwoWalkers } from '../../scenarios/upstream/iommu-register.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { WorkersHost } from '../../runtime/hosts/workers.ts';
import { runExecution } from '../../runtime/execution.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import { explore } from '../../runtime/explore.ts';
import { Recorder, call, driverCall, moduleCall, runKernel } from '../helpers/kernel.ts';
import type { KernelRun } from '../helpers/kernel.ts';

/**
 * #16 items 1 and 2: an IOMMU registered and unregistered at run time
 * (actors/iommu-core/register.ts: iommu_device_register → bus_iommu_probe,
 * both phases; iommu_device_unregister), asynchronous client probes
 * (probe_type: "async"), and the DMA API choosing dma-direct or iommu-dma
 * by dev->dma_iommu at the time of each call (actors/iommu-core/dma.ts),
 * with the isolation rule for a dma-direct address used after the switch.
 */

const RP0 = '0000:00:1c.0';
const NIC = '0000:01:00.0'; // dmar0, bound to nic at boot
const HP = '0000:00:1d.0'; // dmar0 hot-plug root port
const EP = '0000:02:00.0'; // below HP, hot-added, async driver
const LATE = '0000:00:1e.0'; // dmar1 (registered later), no driver
const LATEDRV = '0000:00:1f.0'; // dmar1, bound to nic at boot (dma-direct)

const TOPO: Topology = {
  units: [
    { name: 'dmar0', kind: 'vtd' },
    { name: 'dmar1', kind: 'vtd', present_at_boot: false },
    { name: 'smmu1', kind: 'smmu-v3', present_at_boot: false },
  ],
  pci: [
    { bdf: RP0, bridge: true, acs: true, unit: 'dmar0', driver: 'pcieport' },
    { bdf: NIC, parent: RP0, unit: 'dmar0', driver: 'nic' },
    { bdf: HP, bridge: true, acs: true, unit: 'dmar0', hotplug: true },
    { bdf: EP, parent: HP, unit: 'dmar0', hotplug: true, driver: 'fastnic' },
    { bdf: LATE, unit: 'dmar1' },
    { bdf: LATEDRV, unit: 'dmar1', driver: 'nic' },
  ],
  platform: [
    // deferred at boot: of_iommu_configure() is -EPROBE_DEFER until smmu1's driver registers it
    { name: 'dsp0', unit: 'smmu1', driver: 'dsp' },
    { name: 'dsp1', unit: 'smmu1' },
    { name: 'uart0' },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci' },
    { name: 'fastnic', bus: 'pci', probe_type: 'async', async: false, probe: [{ do: 'dma_map', as: 'ring' }] },
    { name: 'dsp', bus: 'platform', probe_type: 'async' },
    { name: 'serial', bus: 'platform' },
  ],
};

const reg = (unit: string): Call => call(IOMMU_CORE, 'iommu_device_register', { unit });
const unreg = (unit: string): Call => call(IOMMU_CORE, 'iommu_device_unregister', { unit });
const errName = (v: unknown): unknown => (typeof v === 'object' && v !== null && 'errno' in v ? (v as { errno: string }).errno : v);
/** A module's action results, errnos by name. */
const rets = (v: unknown): unknown[] => (v as { ret: unknown }[]).map((a) => a.ret);

interface CoreDev { readonly id: string; readonly iommu_group: string | null; readonly iommu: string | null; readonly dma_iommu: boolean; readonly dma_direct: Readonly<Record<string, string>> }
const dev = (r: KernelRun, d: string): CoreDev | undefined => (r.core.devices as readonly CoreDev[]).find((x) => x.id === d);
const groupOf = (r: KernelRun, d: string) => r.core.groups.find((g) => g.devices.includes(d));
const driverOf = (r: KernelRun, d: string): string | null => ((r.driverCore as { devices: Record<string, { driver: string | null }> }).devices[d]?.driver ?? null);
const known = [...KNOWN, ...REGISTER_RACE_KNOWN];
const outsideKnown = (fs: readonly Finding[]): string[] => fs.filter((f) => matchKnown(f, null, known) === null).map((f) => `${f.kind}: ${f.title}\n${f.report}`);

interface Case {
  readonly name: string;
  readonly topology?: Topology;
  readonly calls: readonly Call[];
  /** Each call's result, errnos by name (a module call: its actions' results). */
  readonly want: readonly unknown[];
  /** Exactly these finding kinds. */
  readonly findings: readonly string[];
  readonly after?: (r: KernelRun) => void;
}

const CASES: readonly Case[] = [
  {
    name: 'iommu_device_register: a unit absent at boot registers; both phases leave its devices grouped, with a DMA default domain and iommu-dma',
    // LATEDRV was bound at boot with dma-direct: the late-probe WARN, and its group has a bound driver it never counted (owner_cnt 0)
    calls: [reg('dmar1')], want: [0], findings: ['invariant-violation', 'kernel-warn'],
    after: (r) => {
      for (const d of [LATE, LATEDRV]) {
        expect(dev(r, d)?.iommu_group).not.toBeNull();
        expect(dev(r, d)?.dma_iommu).toBe(true);
        const g = groupOf(r, d)!;
        expect(g.default_domain).not.toBeNull();
        expect(g.domain).toBe(g.default_domain);
      }
      expect(r.result.findings.map((f) => f.report).join('\n')).toContain(`${LATEDRV}: late IOMMU probe at driver bind`);
    },
  },
  {
    name: 'iommu_device_register: a firmware-described unit; the deferred client binds after it, through iommu-dma',
    calls: [reg('smmu1')], want: [0], findings: [],
    after: (r) => {
      expect(driverOf(r, 'dsp0')).toBe('dsp');
      expect(groupOf(r, 'dsp0')?.owner_cnt).toBe(1);
      expect(dev(r, 'dsp0')?.dma_iommu).toBe(true);
      expect(dev(r, 'dsp1')?.iommu_group).not.toBeNull();
    },
  },
  { name: 'iommu_device_register: -EEXIST for a unit registered at boot', calls: [reg('dmar0')], want: ['EEXIST'], findings: [] },
  { name: 'iommu_device_register: -ENODEV for a unit the topology does not have', calls: [reg('nope')], want: ['ENODEV'], findings: [] },
  { name: 'iommu_device_register: twice, -EEXIST the second time', calls: [reg('smmu1'), reg('smmu1')], want: [0, 'EEXIST'], findings: [] },
  { name: 'iommu_device_unregister: -ENODEV for a unit not registered', calls: [unreg('dmar1')], want: ['ENODEV'], findings: [] },
  { name: 'iommu_device_unregister: -ENODEV for an unknown unit', calls: [unreg('nope')], want: ['ENODEV'], findings: [] },
  {
    name: 'iommu_device_unregister after register: the unit\'s driverless devices are released, nothing else',
    topology: { ...TOPO, platform: TOPO.platform!.map((p) => ({ name: p.name, ...(p.unit !== undefined ? { unit: p.unit } : {}) })) },
    calls: [reg('smmu1'), unreg('smmu1')], want: [0, 0], findings: [],
    after: (r) => {
      for (const d of ['dsp0', 'dsp1']) expect(dev(r, d)?.iommu_group ?? null).toBeNull();
      expect(dev(r, NIC)?.iommu_group).not.toBeNull();
    },
  },
  {
    // §8.3: iommu_device_unregister() releases devices without device_lock while their drivers are bound
    name: 'iommu_device_unregister of a boot unit with bound drivers: released under them (owner_cnt WARN), drivers still bound',
    calls: [unreg('dmar0')], want: [0], findings: ['invariant-violation', 'kernel-warn'],
    after: (r) => {
      expect(dev(r, NIC)?.iommu_group ?? null).toBeNull();
      expect(dev(r, NIC)?.dma_iommu ?? false).toBe(false);
      expect(driverOf(r, NIC)).toBe('nic');
      expect(r.result.findings.map((f) => f.report).join('\n')).toContain('__iommu_group_free_device: WARN_ON(group->owner_cnt');
    },
  },
  {
    name: 'probe_iommu_group: a device already in a group is left alone (0)',
    calls: [call(IOMMU_CORE, 'probe_iommu_group', { dev: NIC, walk: 't' })], want: [0], findings: [],
    after: (r) => expect(groupOf(r, NIC)?.devices).toEqual([NIC]),
  },
  { name: 'probe_iommu_group: a device behind no IOMMU is -ENODEV, reported to the walk as 0', calls: [call(IOMMU_CORE, 'probe_iommu_group', { dev: 'uart0', walk: 't' })], want: [0], findings: [] },
  {
    name: 'probe_iommu_group: a device of an unregistered unit gets no group and no dev->iommu (0)',
    calls: [call(IOMMU_CORE, 'probe_iommu_group', { dev: LATE, walk: 't' })], want: [0], findings: [],
    after: (r) => {
      expect(dev(r, LATE)?.iommu_group ?? null).toBeNull();
      expect(dev(r, LATE)?.iommu ?? null).toBeNull();
    },
  },
  { name: 'iommu_probe_device: -ENODEV for a device of an unregistered unit', calls: [call(IOMMU_CORE, 'iommu_probe_device', { dev: LATE })], want: ['ENODEV'], findings: [] },
  {
    name: 'remove_iommu_group: a device of another unit is not touched',
    calls: [call(IOMMU_CORE, 'remove_iommu_group', { dev: NIC, unit: 'dmar1' })], want: [0], findings: [],
    after: (r) => expect(dev(r, NIC)?.iommu_group).not.toBeNull(),
  },
  { name: 'of_iommu_configure: -EPROBE_DEFER while the SMMU is not registered (no fwspec)', calls: [call(IOMMU_CORE, 'of_iommu_configure', { dev: 'dsp1' })], want: ['EPROBE_DEFER'], findings: [] },
  { name: 'of_iommu_configure: 0 once it is (the walk gave it the fwspec)', calls: [reg('smmu1'), call(IOMMU_CORE, 'of_iommu_configure', { dev: 'dsp1' })], want: [0, 0], findings: [] },
  {
    name: 'dma_map_page_attrs: iommu-dma for a translated device (an IOVA the default domain maps)',
    calls: [call(IOMMU_CORE, 'dma_map_page_attrs', { dev: NIC, page: 'p' })], want: [0x1000], findings: [],
    after: (r) => expect(r.core.domains.some((d) => (d as unknown as { mappings: Record<string, string> }).mappings['4096'] === 'p')).toBe(true),
  },
  {
    name: 'dma_map_page_attrs: dma-direct without an IOMMU (the physical address, recorded)',
    calls: [call(IOMMU_CORE, 'dma_map_page_attrs', { dev: LATE, page: 'p' })], want: [(v: unknown) => typeof v === 'number'], findings: [],
    after: (r) => expect(Object.values(dev(r, LATE)?.dma_direct ?? {})).toEqual(['p']),
  },
  {
    name: 'dma_unmap_page_attrs: a dma-direct address is forgotten; an address never handed out is -EINVAL',
    calls: [moduleCall([{ do: 'dma_map', dev: LATE, as: 'a', page: 'p' }, { do: 'dma_unmap', dev: LATE, iova: 'a' }, { do: 'dma_unmap', dev: LATE, iova: 'a' }])],
    want: [[(v: unknown) => typeof v === 'number', 0, 'EINVAL']], findings: [],
    after: (r) => expect(dev(r, LATE)?.dma_direct).toEqual({}),
  },
  {
    name: 'DMA before registration: the unit does not translate, the dma-direct address reaches the page\'s physical address',
    calls: [moduleCall([{ do: 'dma_map', dev: LATE, as: 'a', page: 'p' }, { do: 'dma', dev: LATE, iova: 'a' }])],
    want: [[(v: unknown) => typeof v === 'number', (v: unknown) => (v as { outcome: string }).outcome === 'bypass']], findings: [],
  },
  {
    name: 'DMA through a dma-direct address after iommu_setup_dma_ops switched the device: isolation-breach (direct-mapping-after-switch)',
    calls: [moduleCall([{ do: 'dma_map', dev: LATE, as: 'a', page: 'p' }]), reg('dmar1'), moduleCall([{ do: 'dma', dev: LATE, iova: 'a' }])],
    want: [[(v: unknown) => typeof v === 'number'], 0, [(v: unknown) => (v as { outcome: string }).outcome === 'fault']],
    findings: ['invariant-violation', 'isolation-breach', 'kernel-warn'],
    after: (r) => expect(r.result.findings.map((f) => f.signature).join('\n')).toContain('isolation-breach|direct-mapping-after-switch|'),
  },
  {
    name: 'after the switch the DMA API hands out IOVAs of the new domain, and DMA through one translates',
    calls: [reg('dmar1'), moduleCall([{ do: 'dma_map', dev: LATE, as: 'a', page: 'p' }, { do: 'dma', dev: LATE, iova: 'a' }])],
    want: [0, [0x1000, (v: unknown) => (v as { outcome: string; target: string }).outcome === 'translated' && (v as { target: string }).target === 'p']],
    findings: ['invariant-violation', 'kernel-warn'],
  },
  {
    name: 'probe_type "async": a hot-added device binds in its own async task (__device_attach_async_helper), after the rescan returns',
    calls: [call(PCI, 'pci_rescan_bus', { dev: HP })], want: [0], findings: [],
    after: (r) => {
      expect(driverOf(r, EP)).toBe('fastnic');
      expect(r.result.decisions.some((t) => t.startsWith('t.'))).toBe(true);
    },
  },
];

const equalish = (got: unknown, want: unknown): boolean => {
  if (typeof want === 'function') return (want as (v: unknown) => boolean)(got);
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => equalish(got[i], w));
  return errName(got) === want;
};

describe('run-time IOMMU registration and the DMA API: one execution per case (errno by name, state after, exact findings)', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(20);
  for (const c of CASES) {
    it(c.name, async () => {
      const r = await runKernel({ name: 'reg-case', topology: c.topology ?? TOPO, tasks: [{ id: 't', calls: c.calls }] }, { seed: 7 });
      expect(r.result.outcome).toBe('completed');
      const got = (r.result.results['t'] as unknown[]).map((v, i) => (Array.isArray(c.want[i]) ? rets(v) : v));
      expect(got.length).toBe(c.want.length);
      got.forEach((g, i) => expect(equalish(g, c.want[i]), `call ${i}: ${JSON.stringify(g)}`).toBe(true));
      expect([...new Set(r.result.findings.map((f) => f.kind))].sort()).toEqual([...c.findings].sort());
      c.after?.(r);
    });
  }
});

// ---- happy path: a unit registers while drivers bind, async probes run, DMA goes on ----------------------------------

const HAPPY: readonly KernelTask[] = [
  { id: 'register', calls: [reg('smmu1')] },
  // a driver binds elsewhere: driver_bound() kicks the deferred list, dsp0's async probe races the walk
  { id: 'bind', calls: [call(DRIVER_CORE, 'bind_store', { dev: 'uart0', driver: 'serial' })] },
  // a hot-add on a registered unit whose driver probes asynchronously
  { id: 'rescan', calls: [call(PCI, 'pci_rescan_bus', { dev: HP })] },
  // the NIC's driver keeps using the DMA API
  { id: 'dma', calls: [driverCall(NIC, [{ do: 'dma_map', as: 'b' }, { do: 'dma', iova: 'b' }, { do: 'dma_unmap', iova: 'b' }])] },
];

const SEEDS = [1, 2, 3, 4, 5, 6];
/** Inline runs' trace hashes by strategy and seed: the workers host must make the same executions. */
const inlineHashes = new Map<string, string | null>();

describe('happy path: register smmu1 while drivers bind and async probes run (random and PCT, both hosts)', () => {
  for (const hostKind of ['inline', 'workers'] as const) {
    it(`random and PCT × ${SEEDS.length} seeds, ${hostKind}: nothing outside the known list; every device of smmu1 grouped, the async drivers bound`, async () => {
      // one host for every seed (reset between runs): each run is the seed's own schedule from fresh state
      const program = kernelProgram({ name: 'reg-happy', topology: TOPO, tasks: HAPPY });
      const host = hostKind === 'workers' ? await WorkersHost.create(program) : await InlineHost.create(program);
      try {
        for (const seed of SEEDS) {
          for (const [name, strategy] of [['random', new RandomStrategy(seed)], ['pct', new PctStrategy(seed, 3)]] as const) {
            await host.reset();
            const r = await runExecution(host, program, strategy, { seed, checkers: kernelCheckers() });
            const at = `${name} seed ${seed}`;
            if (hostKind === 'inline') inlineHashes.set(at, r.traceHash);
            else if (inlineHashes.has(at)) expect(r.traceHash, `${at}: same trace as inline`).toBe(inlineHashes.get(at));
            expect(r.outcome, at).toBe('completed');
            expect(outsideKnown(r.findings), at).toEqual([]);
            expect(r.results['register'], at).toEqual([0]);
            expect(r.results['rescan'], at).toEqual([0]);
            const core = (await host.inspect(IOMMU_CORE)) as { devices: readonly CoreDev[] };
            for (const d of ['dsp0', 'dsp1']) expect(core.devices.find((x) => x.id === d)?.iommu_group, `${d} ${at}`).not.toBeNull();
            const drivers = (await host.inspect(DRIVER_CORE)) as { devices: Record<string, { driver: string | null }> };
            expect(drivers.devices['dsp0']?.driver, at).toBe('dsp');
            expect(drivers.devices[EP]?.driver, at).toBe('fastnic');
          }
        }
      } finally {
        await host.close();
      }
    }, 300_000);
  }
});

// ---- lockdep without the preloaded order ------------------------------------------------------------------------------

/** The §1.2 edges the registration paths take (phase 1 under the probe lock, phase 2 and unregister under group->mutex, the ops lookup). */
const NEW_EDGES: readonly [LockClassName, LockClassName][] = [
  ['iommu_probe_device_lock', 'group->mutex'],
  ['iommu_probe_device_lock', 'iommu_device_lock'],
  ['device_lock', 'iommu_probe_device_lock'],
  ['device_lock', 'group->mutex'],
];

describe('lockdep without the preloaded order observes the registration paths\' edges, none reversed', () => {
  it('register (both phases), async probes, a deferred client and unregister', async () => {
    const seen = new Set<string>();
    const tasks: readonly KernelTask[] = [...HAPPY, { id: 'unreg', calls: [reg('dmar1'), unreg('dmar1')] }];
    for (const seed of [1, 2]) {
      const r = await runKernel({ name: 'reg-edges', topology: TOPO, tasks }, { seed, checkers: [new Lockdep()] });
      for (const e of r.lockdep.dependencies()) seen.add(`${e.from} -> ${e.to}`);
    }
    for (const [outer, inner] of NEW_EDGES) expect([...seen], `${outer} -> ${inner}`).toContain(`${outer} -> ${inner}`);
    // iommu_device_lock is a leaf: nothing is taken under it
    expect([...seen].filter((e) => e.startsWith('iommu_device_lock ->'))).toEqual([]);
    const twoWay = (d: (typeof CANONICAL_ORDER)[number]) => CANONICAL_ORDER.some((x) => x.outer === d.inner && x.inner === d.outer);
    expect(CANONICAL_ORDER.filter((d) => !twoWay(d) && seen.has(`${d.inner} -> ${d.outer}`))).toEqual([]);
  });
});

// ---- the B5 / B6 built-ins: buggy variant found, fixed clean (pinned seeds) ---------------------------------------------

async function kindsOver(s: typeof registerAsyncProbe, variants: Record<string, string>, schedules: number, seed: number): Promise<{ kinds: Set<string>; outside: string[]; findings: Finding[] }> {
  const program = s.program(variants);
  const host = await InlineHost.create(program);
  const kinds = new Set<string>();
  const outside: string[] = [];
  const findings: Finding[] = [];
  try {
    await explore(host, program, new RandomStrategy(seed), {
      seed, schedules, checkers: () => s.checkers!(variants),
      onExecution: (x) => {
        for (const f of x.findings) {
          kinds.add(f.kind);
          findings.push(f);
          if (matchKnown(f, null, [...KNOWN, ...(s.known ?? [])]) === null) outside.push(`${f.kind}: ${f.title}`);
        }
      },
    });
  } finally {
    await host.close();
  }
  return { kinds, outside, findings };
}

describe('B5 and B6 built-ins', () => {
  it('B6: without the recheck the duplicate iommu_group link is reported; with it nothing is', async () => {
    const bad = await kindsOver(registerTwoWalkers, { 'init-device-recheck': 'none' }, 40, 1);
    expect(bad.kinds).toContain('kernel-warn');
    const good = await kindsOver(registerTwoWalkers, { 'init-device-recheck': 'enodev' }, 40, 1);
    expect(good.outside).toEqual([]);
  }, 240_000);

  it('B5: the double read of dev->driver crashes (kernel-bug); the snapshot does not, and leaves only the known race', async () => {
    const bad = await kindsOver(registerAsyncProbe, { 'dma-configure-driver': 'double-read' }, 60, 1);
    expect(bad.kinds).toContain('kernel-bug');
    const good = await kindsOver(registerAsyncProbe, { 'dma-configure-driver': 'read-once' }, 60, 1);
    expect(good.kinds).not.toContain('kernel-bug');
    expect(good.outside).toEqual([]);
    // what is left is what 7.0 does (REGISTER_RACE_KNOWN's citations): the count one LOW — really_probe()'s
    // iommu_device_use_default_domain() found dev->iommu_group still NULL and returned 0 — never a double count;
    // and the plain dev->iommu_group pair (iommu_init_device's store under iommu_probe_device_lock, the
    // pre-probe load under device_lock)
    const owner = good.findings.filter((f) => f.kind === 'invariant-violation');
    const races = good.findings.filter((f) => f.kind === 'data-race');
    expect(owner.length).toBeGreaterThan(0);
    for (const f of owner) expect(f.report).toMatch(/owner_cnt=0, bound kernel drivers: 1 /);
    expect(races.length).toBeGreaterThan(0);
    for (const f of races) expect(f.signature).toBe('data-race|device.iommu_group|iommu-core.__iommu_probe_device|iommu-core.dev_iommu_group');
  }, 240_000);
});

// ---- bad input: exit 2 naming the place ---------------------------------------------------------------------------------

describe('iommu.register / iommu.unregister: load-time checks (exit 2)', () => {
  const doc = (ops: readonly Record<string, unknown>[], units?: readonly Record<string, unknown>[], drivers?: readonly Record<string, unknown>[]) => ({
    name: 'reg-bad',
    topology: {
      units: units ?? [{ name: 'dmar0', kind: 'vtd' }, { name: 'dmar1', kind: 'vtd', present_at_boot: false }],
      pci: [{ id: '0000:00:1f.0', unit: 'dmar1' }],
      drivers: drivers ?? [],
    },
    tasks: [{ name: 't', ops }],
  });
  const bad: [string, unknown, string, RegExp][] = [
    ['registering a unit that exists at boot', doc([{ op: 'iommu.register', unit: 'dmar0' }]), 'tasks[0].ops[0].unit', /unit "dmar0" already exists at boot/],
    ['registering an unknown unit', doc([{ op: 'iommu.register', unit: 'dmar9' }]), 'tasks[0].ops[0].unit', /unknown unit "dmar9"/],
    ['unregistering an unknown unit', doc([{ op: 'iommu.unregister', unit: 'dmar9' }]), 'tasks[0].ops[0].unit', /unknown unit "dmar9"/],
    ['register without a unit', doc([{ op: 'iommu.register' }]), 'tasks[0].ops[0].unit', /./],
    ['present_at_boot not a boolean', doc([], [{ name: 'dmar1', kind: 'vtd', present_at_boot: 'no' }]), 'topology.units[0].present_at_boot', /expected true or false/],
    ['an unknown probe_type', doc([], undefined, [{ name: 'd', bus: 'pci', probe_type: 'eager' }]), 'topology.drivers[0].probe_type', /unknown probe_type/],
  ];
  for (const [name, d, where, message] of bad) {
    it(`rejects: ${name} (${where})`, () => {
      let err: unknown;
      try {
        scenarioFromDocument(d, 'bad.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).where).toBe(where);
      expect((err as InputError).message).toMatch(message);
    });
  }

  it('the CLI exits 2 with the file, the field and what was wrong; a good document runs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reg-bad-'));
    try {
      const file = path.join(dir, 'bad.json');
      writeFileSync(file, JSON.stringify(doc([{ op: 'iommu.register', unit: 'dmar0' }])));
      const r = await cli('run', file, '--schedules', '1');
      expect(r.code).toBe(2);
      expect(r.err).toContain('bad.json');
      expect(r.err).toContain('tasks[0].ops[0].unit');
      expect(r.err).not.toMatch(/\n\s+at /);
      const good = path.join(dir, 'good.json');
      writeFileSync(good, JSON.stringify(doc([{ op: 'iommu.register', unit: 'dmar1' }, { op: 'iommu.unregister', unit: 'dmar1' }])));
      const ok = await cli('run', good, '--schedules', '2', '--json');
      expect(ok.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`ops` lists both with their argument', async () => {
    const r = await cli('ops', '--json');
    const list = (r.json as { ops: readonly { op: string; fields: Record<string, string>; entry: string }[] }).ops;
    expect(list.find((o) => o.op === 'iommu.register')).toMatchObject({ fields: { unit: 'late-unit' }, entry: 'iommu-core:iommu_device_register' });
    expect(list.find((o) => o.op === 'iommu.unregister')).toMatchObject({ fields: { unit: 'unit' }, entry: 'iommu-core:iommu_device_unregister' });
  });
});

// ---- the two phases of bus_iommu_probe(), as the trace shows them ----------------------------------------------------------

describe('bus_iommu_probe(): every device of the bus grouped (phase 1) before any default domain or DMA ops (phase 2)', () => {
  it('registering dmar1: both devices join groups under the probe lock, then each group gets its default domain and dma_iommu under group->mutex', async () => {
    const rec = new Recorder();
    const r = await runKernel({ name: 'phases', topology: TOPO, tasks: [{ id: 't', calls: [reg('dmar1')] }] }, { seed: 7, checkers: [...kernelCheckers(), rec] });
    expect(r.result.results['t']).toEqual([0]);
    const ev = rec.events;
    const joins = ev.flatMap((e, i) => (e.ev === 'access' && e.op === 'write' && e.field === 'iommu_group' && (e.obj === LATE || e.obj === LATEDRV) && e.value !== null ? [i] : []));
    const defaults = ev.flatMap((e, i) => (e.ev === 'access' && e.op === 'write' && e.field === 'default_domain' && e.value !== null && e.task === 't' ? [i] : []));
    const dmaOps = ev.flatMap((e, i) => (e.ev === 'access' && e.op === 'write' && e.field === 'dma_iommu' && e.value === true && (e.obj === LATE || e.obj === LATEDRV) ? [i] : []));
    expect(joins.length).toBe(2);
    expect(defaults.length).toBe(2);
    expect(dmaOps.length).toBe(2);
    // phase 2 starts after the last join: the default domains and DMA ops come from bus_iommu_probe itself, not from the probe
    expect(Math.min(...defaults, ...dmaOps)).toBeGreaterThan(Math.max(...joins));
    for (const i of [...defaults, ...dmaOps]) {
      const stack = ev[i]!.stack.join(' < ');
      expect(stack).toContain('bus_iommu_probe');
      expect(stack).not.toContain('probe_iommu_group');
    }
  });
});
