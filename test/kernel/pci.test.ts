import { describe, expect, it } from 'vitest';
import { pciGroupPartition, pciTopology, removeOrder, slotDepth, stopOrder, bootDevices } from '../../actors/pci/topology.ts';
import type { Checker } from '../../checkers/checker.ts';
import { errno } from '../../protocol/errno.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import type { TaskId } from '../../protocol/ids.ts';
import type { Finding } from '../../protocol/findings.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { PciDevSpec, Topology } from '../../protocol/topology.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';

// ---- the group partition (pure) -----------------------------------------------------------------

const topo = (pci: readonly PciDevSpec[]): Topology => ({ units: [], pci, drivers: [] });
const groups = (pci: readonly PciDevSpec[]): string[][] => {
  const g = pciGroupPartition(pciTopology(topo(pci)));
  return [...new Map([...g.values()].map((m) => [m.join(' '), [...m]])).values()];
};

describe('pci_device_group over the static topology (actors/pci/topology.ts)', () => {
  it('ACS root ports: every device is its own group, root ports included', () => {
    expect(groups([
      { bdf: '0000:00:1c.0', bridge: true, acs: true },
      { bdf: '0000:00:1c.4', bridge: true, acs: true },
      { bdf: '0000:01:00.0', parent: '0000:00:1c.0' },
      { bdf: '0000:02:00.0', parent: '0000:00:1c.4' },
    ])).toEqual([['0000:00:1c.0'], ['0000:00:1c.4'], ['0000:01:00.0'], ['0000:02:00.0']]);
  });

  it('a bridge without ACS makes its whole subtree, itself included, one group', () => {
    expect(groups([
      { bdf: '0000:00:01.0', bridge: true, acs: true },
      { bdf: '0000:01:00.0', parent: '0000:00:01.0', bridge: true, acs: true }, // switch upstream port
      { bdf: '0000:02:00.0', parent: '0000:01:00.0', bridge: true }, // downstream port, no ACS
      { bdf: '0000:02:01.0', parent: '0000:01:00.0', bridge: true, acs: true },
      { bdf: '0000:03:00.0', parent: '0000:02:00.0' },
      { bdf: '0000:03:01.0', parent: '0000:02:00.0' },
      { bdf: '0000:04:00.0', parent: '0000:02:01.0' },
    ])).toEqual([['0000:00:01.0'], ['0000:01:00.0'], ['0000:02:00.0', '0000:03:00.0', '0000:03:01.0'], ['0000:02:01.0'], ['0000:04:00.0']]);
  });

  it('the walk goes on past an ACS bridge whose path to the root is not isolated (pci_acs_path_enabled)', () => {
    expect(groups([
      { bdf: '0000:00:02.0', bridge: true }, // root port without ACS
      { bdf: '0000:05:00.0', parent: '0000:00:02.0', bridge: true, acs: true },
      { bdf: '0000:06:00.0', parent: '0000:05:00.0' },
      { bdf: '0000:00:03.0', bridge: true, acs: true },
    ])).toEqual([['0000:00:02.0', '0000:05:00.0', '0000:06:00.0'], ['0000:00:03.0']]);
  });

  it('functions of a multi-function device without ACS share; a function with ACS is isolated', () => {
    expect(groups([
      { bdf: '0000:00:03.0', bridge: true, acs: true },
      { bdf: '0000:07:00.0', parent: '0000:00:03.0' },
      { bdf: '0000:07:00.1', parent: '0000:00:03.0' },
      { bdf: '0000:07:00.2', parent: '0000:00:03.0', acs: true },
    ])).toEqual([['0000:00:03.0'], ['0000:07:00.0', '0000:07:00.1'], ['0000:07:00.2']]);
  });

  it('DMA aliases share, whichever side names the other', () => {
    expect(groups([
      { bdf: '0000:00:10.0' },
      { bdf: '0000:00:11.0', alias: '0000:00:10.0' },
      { bdf: '0000:00:12.0' },
    ])).toEqual([['0000:00:10.0', '0000:00:11.0'], ['0000:00:12.0']]);
  });

  it('peers come in topology order and every member has the same list', () => {
    const g = pciGroupPartition(pciTopology(topo([
      { bdf: '0000:09:00.0', parent: '0000:00:04.0' },
      { bdf: '0000:00:04.0', bridge: true },
      { bdf: '0000:09:00.1', parent: '0000:00:04.0' },
    ])));
    expect(g.get('0000:09:00.1')).toEqual(['0000:09:00.0', '0000:00:04.0', '0000:09:00.1']);
    expect(g.get('0000:00:04.0')).toBe(g.get('0000:09:00.0'));
  });

  it('enumeration and removal orders; slot depth', () => {
    const pt = pciTopology(topo([
      { bdf: '0000:0a:00.0', parent: '0000:00:05.0', bridge: true, slot: 's1' },
      { bdf: '0000:00:05.0', bridge: true, acs: true },
      { bdf: '0000:0b:00.0', parent: '0000:0a:00.0', slot: 's2' },
      { bdf: '0000:0b:01.0', parent: '0000:0a:00.0', slot: 's2', hotplug: true },
    ]));
    expect(bootDevices(pt)).toEqual(['0000:00:05.0', '0000:0a:00.0', '0000:0b:00.0']);
    expect(stopOrder(pt, '0000:0a:00.0')).toEqual(['0000:0b:01.0', '0000:0b:00.0', '0000:0a:00.0']);
    expect(removeOrder(pt, '0000:0a:00.0')).toEqual(['0000:0b:00.0', '0000:0b:01.0', '0000:0a:00.0']);
    expect(slotDepth(pt, 's1')).toBe(0);
    expect(slotDepth(pt, 's2')).toBe(1);
  });
});

// ---- through the kernel model ---------------------------------------------------------------------

const RP = '0000:00:1c.0';
const NIC = '0000:01:00.0'; // in pciehp slot "slot1", ATS, bound to "nic" at boot
const NORESET = '0000:00:1f.0'; // reset_methods []
const TRIER = '0000:00:02.0'; // its driver's probe calls pci_try_reset_function()
const LOCKED = '0000:00:03.0'; // its driver's probe calls pci_reset_function_locked()
const CXL = '0000:02:00.0'; // cxl_bus reset: nested prepare (B8)

const TOPOLOGY: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [
    { bdf: RP, bridge: true, acs: true, unit: 'vtd0' },
    { bdf: NIC, parent: RP, unit: 'vtd0', ats: true, slot: 'slot1', driver: 'nic' },
    { bdf: NORESET, unit: 'vtd0', reset_methods: [], driver: 'nic' },
    { bdf: TRIER, unit: 'vtd0', ats: true, driver: 'trier' },
    { bdf: LOCKED, unit: 'vtd0', ats: true, driver: 'locked' },
    { bdf: '0000:00:1d.0', bridge: true, acs: true, unit: 'vtd0' },
    { bdf: CXL, parent: '0000:00:1d.0', unit: 'vtd0', ats: true, reset_methods: ['cxl_bus'] },
  ],
  drivers: [
    { name: 'nic', bus: 'pci' },
    { name: 'trier', bus: 'pci', probe: [{ do: 'pci_try_reset_function' }] },
    { name: 'locked', bus: 'pci', probe: [{ do: 'pci_reset_function_locked' }] },
  ],
};

interface PciView {
  readonly devices: readonly { readonly bdf: string; readonly present: boolean; readonly disconnected: boolean; readonly in_reset: boolean }[];
}
interface DriverCoreView {
  readonly devices: Readonly<Record<string, { readonly driver: string | null; readonly bound: boolean; readonly registered: boolean; readonly freed: boolean }>>;
}

interface Run {
  readonly r: ExecutionResult;
  readonly pci: PciView;
  readonly dc: DriverCoreView;
  readonly events: readonly TraceEvent[];
}

const pciCall = (op: string, body: unknown): Call => ({ to: PCI, op, body });

/** Keeps every event of the execution, sends included (the trace has only the steps' own events). */
class Recorder implements Checker {
  readonly name = 'recorder';
  readonly events: TraceEvent[] = [];
  onEvent(e: TraceEvent): void {
    this.events.push(e);
  }
  drain(): readonly Finding[] {
    return [];
  }
}

interface BootOptions {
  readonly seed?: number;
  readonly variants?: Readonly<Record<string, string>>;
  readonly topology?: Topology;
  /** A schedule of the test's own, which may look at the events so far. */
  readonly strategy?: (events: readonly TraceEvent[]) => Strategy;
}

async function boot(tasks: readonly KernelTask[], opts: BootOptions = {}): Promise<Run> {
  const program = kernelProgram({ name: 'pci-test', topology: opts.topology ?? TOPOLOGY, tasks, ...(opts.variants ? { variants: opts.variants } : {}) });
  const host = await InlineHost.create(program);
  try {
    const recorder = new Recorder();
    const checkers: Checker[] = [...kernelCheckers(), recorder];
    const seed = opts.seed ?? 1;
    const strategy = opts.strategy?.(recorder.events) ?? new RandomStrategy(seed);
    const r = await runExecution(host, program, strategy, { seed, checkers });
    const pci = (await host.inspect(PCI)) as PciView;
    const dc = (await host.inspect(DRIVER_CORE)) as DriverCoreView;
    return { r, pci, dc, events: recorder.events };
  } finally {
    await host.close();
  }
}

const results = (run: Run, task: string): readonly unknown[] => {
  const v = run.r.results[task];
  expect(v, `task ${task} did not finish (outcome ${run.r.outcome})`).toBeDefined();
  return v as readonly unknown[];
};
const report = (fs: readonly Finding[]): string[] => fs.map((f) => `${f.kind}: ${f.title}\n${f.report}`);
const pciDev = (run: Run, bdf: string): PciView['devices'][number] | undefined => run.pci.devices.find((d) => d.bdf === bdf);
/** The ops of the calls the pci actor made to `to` in a task, in order. */
const sent = (run: Run, to: string, task: string): string[] =>
  run.events.filter((e) => e.ev === 'send' && e.kind === 'call' && e.actor === PCI && e.to === to && e.task === task).map((e) => (e.ev === 'send' ? e.op : ''));

describe('the pci actor in the kernel model', () => {
  it('boot enumerates every device, parents first, and binds the drivers', async () => {
    const run = await boot([]);
    expect(run.r.outcome).toBe('completed');
    expect(report(run.r.findings)).toEqual([]);
    // (a check over a list: it must not pass on an empty one)
    expect(run.pci.devices.length).toBeGreaterThan(0);
    expect(run.pci.devices.every((d) => d.present && !d.disconnected && !d.in_reset)).toBe(true);
    expect(run.dc.devices[NIC]).toMatchObject({ driver: 'nic', bound: true });
    const addOrder = run.events.flatMap((e) => (e.ev === 'send' && e.op === 'device_add' && e.kind === 'call' && e.actor === PCI ? [e.stack.join(' ')] : []));
    expect(addOrder.length).toBe(TOPOLOGY.pci.length);
    const order = run.events.flatMap((e) => (e.ev === 'access' && e.field === 'present' && e.op === 'write' && e.value === true ? [String(e.obj)] : []));
    expect(order.indexOf(RP)).toBeLessThan(order.indexOf(NIC));
  });

  it('surprise hot-remove marks the subtree disconnected first, then unbinds and deletes the bound device', async () => {
    const run = await boot([{ id: 'hp', calls: [pciCall('pciehp_disable_slot', { slot: 'slot1', surprise: true }), pciCall('pciehp_disable_slot', { slot: 'nope', surprise: false })] }]);
    expect(run.r.outcome).toBe('completed');
    expect(results(run, 'hp')).toEqual([0, errno('ENODEV')]);
    expect(pciDev(run, NIC)).toMatchObject({ present: false, disconnected: true });
    expect(run.dc.devices[NIC]).toMatchObject({ driver: null, bound: false, registered: false, freed: true });
    expect(sent(run, DRIVER_CORE, 'hp')).toEqual(['device_release_driver', 'dev_driver_snapshot', 'device_del', 'put_device']);
    // pci_dev_set_disconnected before pci_lock_rescan_remove; reset_lock dropped around the removal
    const lockOps = run.events.flatMap((e) => (e.task === 'hp' && (e.ev === 'lock.acquired' || e.ev === 'lock.released') ? [`${e.ev === 'lock.acquired' ? '+' : '-'}${e.lock.cls}`] : []));
    expect(lockOps.filter((x) => /reset_lock|rescan_remove/.test(x))).toEqual([
      '+ctrl->reset_lock', '+pci_rescan_remove_lock', '-ctrl->reset_lock', '+ctrl->reset_lock', '-pci_rescan_remove_lock', '-ctrl->reset_lock',
    ]);
    const disconnectAt = run.events.findIndex((e) => e.ev === 'access' && e.field === 'disconnected' && e.op === 'write' && e.value === true);
    const rescanAt = run.events.findIndex((e) => e.ev === 'lock.acquired' && e.task === 'hp' && e.lock.cls === 'pci_rescan_remove_lock');
    expect(disconnectAt).toBeGreaterThan(-1);
    expect(disconnectAt).toBeLessThan(rescanAt);
    // Re-taking reset_lock under pci_rescan_remove_lock (f5eff5591b8f) closes a cycle with the
    // declared order. The two-lock form real lockdep reports on 6.14 (LKML 2025) is made by the
    // single-threaded pciehp_ist alone and is not reported (docs/checkers.md, issue 15 item 1b);
    // what stays is the three-party one through device_lock (a sysfs remove holds
    // pci_rescan_remove_lock and waits for device_lock; a reset holds device_lock and waits in
    // pciehp_reset_slot for reset_lock), and nothing else.
    expect(run.r.findings.map((f) => f.kind)).toEqual(['lock-order-inversion']);
    const splat = run.r.findings[0]?.report ?? '';
    expect(splat).toMatch(/Chain exists of:\n\s*pci_rescan_remove_lock --> &dev->mutex --> &ctrl->reset_lock/);
    expect(splat).toMatch(/iommu-lab: .* slot1->reset_lock/);
  });

  it('sysfs remove then rescan brings the device back and binds it again', async () => {
    const run = await boot([{ id: 'rr', calls: [pciCall('pci_stop_and_remove_bus_device_locked', { dev: NIC }), pciCall('pci_rescan_bus', { dev: NIC }), pciCall('pci_stop_and_remove_bus_device_locked', { dev: '0000:00:99.0' })] }]);
    expect(run.r.outcome).toBe('completed');
    expect(report(run.r.findings)).toEqual([]);
    expect(results(run, 'rr')).toEqual([0, 0, errno('ENODEV')]);
    expect(pciDev(run, NIC)).toMatchObject({ present: true, disconnected: false });
    expect(run.dc.devices[NIC]).toMatchObject({ driver: 'nic', bound: true, registered: true });
  });

  it('pci_try_reset_function() from a probe (device_lock already held by the prober) fails with -EAGAIN', async () => {
    const run = await boot([]);
    expect(run.r.outcome).toBe('completed');
    const tries = run.events.filter((e) => e.ev === 'lock.acquired' && e.try && e.lock.cls === 'device_lock' && e.lock.id === `${TRIER}->mutex`);
    expect(tries.map((e) => (e.ev === 'lock.acquired' ? e.ok : null))).toEqual([false]);
    // the probe failed with the errno: not bound, and the IOMMU was never asked to prepare
    expect(run.dc.devices[TRIER]).toMatchObject({ driver: null, bound: false });
    expect(run.events.some((e) => e.ev === 'send' && e.op === 'pci_dev_reset_iommu_prepare' && e.to === IOMMU_CORE && run.events.some((x) => x === e) && e.stack.some((f) => f.includes('really_probe')) && e.stack.join(' ').includes(TRIER))).toBe(false);
    // pci_reset_function_locked() from a probe resets under the prober's device_lock
    expect(run.dc.devices[LOCKED]).toMatchObject({ driver: 'locked', bound: true });
    // asserted by pci_dev_save_and_disable() (device_lock_assert) and by __pci_reset_function_locked()
    expect(run.events.filter((e) => e.ev === 'lock.assert' && e.lock.id === `${LOCKED}->mutex`).map((e) => (e.ev === 'lock.assert' ? e.ok : null))).toEqual([true, true]);
  });

  it('pci_try_reset_function() while another task holds device_lock → -EAGAIN; once it is free the reset runs', async () => {
    // The probe of "slow" holds NIC2's device_lock across its yields. The schedule holds the
    // resetting task back until `open(events)` says so, and runs it first from then on.
    const NIC2 = '0000:00:04.0';
    const topology: Topology = {
      ...TOPOLOGY,
      pci: [...TOPOLOGY.pci, { bdf: NIC2, unit: 'vtd0', ats: true, hotplug: true, driver: 'slow' }],
      drivers: [...TOPOLOGY.drivers, { name: 'slow', bus: 'pci', probe: [{ do: 'yield' }, { do: 'yield' }] }],
    };
    const gate = (open: (events: readonly TraceEvent[]) => boolean) => (events: readonly TraceEvent[]): Strategy => ({
      name: 'gate',
      begin: () => undefined,
      pick: (enabled: readonly TaskId[]) => {
        const rst = enabled.findIndex((t) => t === 'rst');
        const other = enabled.findIndex((t) => t !== 'rst');
        return (open(events) && rst >= 0) || other < 0 ? rst : other;
      },
    });
    const tasks = [
      { id: 'add', calls: [pciCall('pci_rescan_bus', { dev: NIC2 })] },
      { id: 'rst', calls: [pciCall('pci_try_reset_function', { dev: NIC2 })] },
    ];
    const probing = (events: readonly TraceEvent[]): boolean =>
      events.some((e) => e.ev === 'lock.acquired' && e.task.startsWith('add') && e.lock.id === `${NIC2}->mutex`);
    const busy = await boot(tasks, { topology, strategy: gate(probing) });
    expect(busy.r.outcome).toBe('completed');
    expect(results(busy, 'rst')).toEqual([errno('EAGAIN')]);
    expect(busy.dc.devices[NIC2]).toMatchObject({ driver: 'slow', bound: true });

    const added = (events: readonly TraceEvent[]): boolean => events.some((e) => e.ev === 'task.end' && e.task === 'add');
    const free = await boot(tasks, { topology, strategy: gate(added) });
    expect(results(free, 'rst')).toEqual([0]);
    expect(sent(free, IOMMU_CORE, 'rst')).toEqual(['pci_dev_reset_iommu_prepare', 'pci_dev_reset_iommu_done']);
    expect(report(free.r.findings)).toEqual([]);
  });

  it('a device with no reset method: -ENOTTY from every entry point, without locking', async () => {
    const run = await boot([{ id: 't', calls: [
      pciCall('pci_reset_function', { dev: NORESET }),
      pciCall('pci_try_reset_function', { dev: NORESET }),
      pciCall('pci_reset_function', { dev: '0000:00:99.0' }),
    ] }]);
    expect(results(run, 't')).toEqual([errno('ENOTTY'), errno('ENOTTY'), errno('ENODEV')]);
    expect(run.events.some((e) => e.ev === 'lock.request' && e.task.startsWith('t') && e.lock.id === `${NORESET}->mutex`)).toBe(false);
  });

  it('resetting an ATS device: bridge then device pci_dev_lock, IOMMU prepare, reset, done', async () => {
    const run = await boot([{ id: 'r', calls: [pciCall('pci_reset_function', { dev: NIC })] }]);
    expect(run.r.outcome).toBe('completed');
    expect(report(run.r.findings)).toEqual([]);
    expect(results(run, 'r')).toEqual([0]);
    const mine = run.events.filter((e) => e.task.startsWith('r'));
    const steps = mine.flatMap((e) => {
      if (e.ev === 'lock.acquired' && (e.lock.cls === 'device_lock' || e.lock.cls === 'pci_cfg_access_lock')) return [`lock ${e.lock.id}/${e.lock.sub ?? 0}`];
      if (e.ev === 'send' && e.kind === 'call' && e.to === IOMMU_CORE) return [e.op];
      if (e.ev === 'access' && e.field === 'in_reset' && e.op === 'write') return [`in_reset=${String(e.value)}`];
      return [];
    });
    expect(steps).toEqual([
      `lock ${RP}->mutex/0`, `lock ${RP}->cfg_access/0`, `lock ${NIC}->mutex/1`, `lock ${NIC}->cfg_access/1`,
      'pci_dev_reset_iommu_prepare', 'in_reset=true', 'in_reset=false', 'pci_dev_reset_iommu_done',
    ]);
  });

  it('cxl_bus nests prepare (B8): the 7.0 WARN and -EBUSY, or success with the depth counter', async () => {
    const task = [{ id: 'c', calls: [pciCall('pci_reset_function', { dev: CXL })] }];
    const warn = await boot(task);
    expect(results(warn, 'c')).toEqual([errno('EBUSY')]);
    expect(warn.r.findings.map((f) => f.kind)).toContain('kernel-warn');
    expect(sent(warn, IOMMU_CORE, 'c')).toEqual(['pci_dev_reset_iommu_prepare', 'pci_dev_reset_iommu_prepare', 'pci_dev_reset_iommu_done']);
    const fixed = await boot(task, { variants: { 'reset-nesting': 'depth-counter' } });
    expect(results(fixed, 'c')).toEqual([0]);
    expect(report(fixed.r.findings)).toEqual([]);
  });

  it('hot-remove, sysfs remove and a slot reset deadlock through reset_lock (7.0 keeps reset_lock across pci_lock_rescan_remove)', async () => {
    // pciehp: reset_lock(read) → pci_rescan_remove_lock; sysfs remove: pci_rescan_remove_lock →
    // device_lock; slot reset ('bus' method): device_lock → reset_lock(write). f5eff5591b8f drops
    // reset_lock only around the unbind, not around pci_lock_rescan_remove().
    const topology: Topology = { ...TOPOLOGY, pci: TOPOLOGY.pci.map((d) => (d.bdf === NIC ? { ...d, reset_methods: ['bus'] as const } : d)) };
    const tasks = [
      { id: 'hp', calls: [pciCall('pciehp_disable_slot', { slot: 'slot1', surprise: true })] },
      { id: 'rst', calls: [pciCall('pci_reset_function', { dev: NIC })] },
      { id: 'rm', calls: [pciCall('pci_stop_and_remove_bus_device_locked', { dev: NIC })] },
    ];
    let found: Run | null = null;
    for (let seed = 1; seed <= 50 && found === null; seed++) {
      const run = await boot(tasks, { seed, topology });
      if (run.r.outcome === 'deadlock') found = run;
      else expect(run.r.outcome).toBe('completed');
    }
    expect(found).not.toBeNull();
    const hang = (found as Run).r.findings.find((f) => f.kind === 'deadlock');
    expect(hang?.report).toMatch(/wait-for cycle: .*pci_rescan_remove_lock.*0000:01:00\.0->mutex.*slot1->reset_lock/);
  });

  it('dma hooks: pci_dma_configure claims the default domain for a kernel driver, cleanup gives it back', async () => {
    const run = await boot([{ id: 'u', calls: [{ to: DRIVER_CORE, op: 'unbind_store', body: { dev: NIC, driver: 'nic' } }] }]);
    expect(run.r.outcome).toBe('completed');
    expect(report(run.r.findings)).toEqual([]);
    const boot_ = run.events.filter((e) => e.ev === 'send' && e.kind === 'call' && e.to === IOMMU_CORE && e.stack.join(' ').includes('pci:pci_dma_'));
    expect(boot_.map((e) => (e.ev === 'send' ? e.op : ''))).toContain('iommu_device_use_default_domain');
    expect(sent(run, IOMMU_CORE, 'u')).toEqual(['iommu_device_unuse_default_domain']);
    expect(sent(run, DRIVER_CORE, 'u')).toEqual(['dev_driver_snapshot']);
  });
});
