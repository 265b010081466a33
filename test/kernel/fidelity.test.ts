import { describe, expect, it } from 'vitest';
import type { Checker } from '../../checkers/checker.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { RMR_IOVA } from '../../actors/iommu-core/variants/reset-blocking.ts';
import { Recorder, call, groupOf, runKernel, unexpected } from '../helpers/kernel.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import type { TaskId } from '../../protocol/ids.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import { GPU0, GPU1, MOCKDEV, NIC, NOIOMMU, RMRR, TOPOLOGY } from './topology.ts';

/**
 * Fidelity fixes of issue 16 item 8: each case fails on the model as it was
 * before the fix and cites the kernel function it now follows.
 */


function recorded(): { rec: Recorder; checkers: Checker[] } {
  const rec = new Recorder();
  return { rec, checkers: [...kernelCheckers(), rec] };
}

describe('IOMMU_RESV_DIRECT mappings before the default-domain attach (drivers/iommu/iommu.c: iommu_setup_default_domain, __iommu_probe_device)', () => {
  it('the RMR page is in the default domain before the device translates through it', async () => {
    const { rec, checkers } = recorded();
    const run = await runKernel({ name: 'rmr-order', topology: TOPOLOGY, variants: {}, tasks: [] }, { seed: 3, checkers });
    expect(unexpected(run.result.findings)).toEqual([]);
    const def = groupOf(run, RMRR).default_domain;
    const seqOf = (pred: (e: TraceEvent) => boolean): number => rec.events.findIndex(pred);
    const mapped = seqOf((e) => e.ev === 'access' && e.op === 'write' && e.obj === def && e.field === 'mappings'
      && typeof e.value === 'object' && e.value !== null && String(RMR_IOVA) in e.value);
    const attached = seqOf((e) => e.ev === 'access' && e.op === 'write' && e.obj === `${RMRR}.iommu` && e.field === 'hw_domain' && e.value === def);
    expect(mapped).toBeGreaterThanOrEqual(0);
    expect(attached).toBeGreaterThanOrEqual(0);
    expect(mapped).toBeLessThan(attached);
  });
});

// ---- reset: err_handler callbacks under device_lock, the unlocked secondary bus reset warning ----------------

const RP = '0000:00:1c.0';
const EP = '0000:01:00.0'; // alone below RP: its 'bus' method is a secondary bus reset of RP
const RESET_TOPOLOGY: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [
    { bdf: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: EP, parent: RP, unit: 'vtd0', reset_methods: ['bus'], driver: 'rd' },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'rd', bus: 'pci', reset_prepare: [{ do: 'iommu_get_domain_for_dev', as: 'prepared' }], reset_done: [{ do: 'iommu_get_domain_for_dev', as: 'restored' }] },
  ],
};

interface ResetCase {
  readonly name: string;
  readonly calls: readonly Call[];
  readonly want: readonly unknown[];
  readonly warns: readonly string[];
  readonly vars: readonly string[];
}

const pci = (op: string, body: unknown): Call => call(PCI, op, body);
const RESET_CASES: readonly ResetCase[] = [
  {
    // drivers/pci/pci.c pci_reset_function(): pci_dev_lock(bridge) sets RP's block_cfg_access; pci_dev_save_and_disable / pci_dev_restore run the callbacks
    name: 'pci_reset_function: reset_prepare and reset_done run, the bridge is locked: no warning',
    calls: [pci('pci_reset_function', { dev: EP })], want: [0], warns: [], vars: ['prepared', 'restored'],
  },
  {
    // pci_try_reset_function() trylocks the device only: pci_bridge_secondary_bus_reset(RP) finds block_cfg_access clear
    name: 'pci_try_reset_function: the callbacks run and the secondary bus reset is unlocked',
    calls: [pci('pci_try_reset_function', { dev: EP })], want: [0], warns: [`pci ${RP}: unlocked secondary bus reset via: pci_parent_bus_reset`], vars: ['prepared', 'restored'],
  },
  {
    name: 'pci_reset_function on a device without a driver: no callbacks',
    calls: [call(DRIVER_CORE, 'unbind_store', { dev: EP, driver: 'rd' }), pci('pci_reset_function', { dev: EP })], want: [0, 0], warns: [], vars: [],
  },
];

describe('reset callbacks and the bridge lock (drivers/pci/pci.c: pci_dev_save_and_disable, pci_dev_restore, pci_bridge_secondary_bus_reset)', () => {
  for (const c of RESET_CASES) {
    it(c.name, async () => {
      const run = await runKernel({ name: c.name, topology: RESET_TOPOLOGY, variants: {}, tasks: [{ id: 't', calls: c.calls }] }, { seed: 2 });
      expect(run.result.outcome).toBe('completed');
      expect(run.result.results['t']).toEqual(c.want);
      const warns = run.result.findings.filter((f) => f.kind === 'kernel-warn').map((f) => f.report);
      expect(warns.length).toBe(c.warns.length);
      c.warns.forEach((w, i) => expect(warns[i]).toContain(w));
      expect(unexpected(run.result.findings, ['kernel-warn'])).toEqual([]);
      const dc = run.driverCore as { devices: Record<string, { drvdata: Record<string, unknown> }> };
      expect(Object.keys(dc.devices[EP]?.drvdata ?? {}).filter((v) => v === 'prepared' || v === 'restored').sort()).toEqual([...c.vars].sort());
    });
  }
});

// ---- iommu_init_device(): iommu_probe_device_lock dropped around dev->bus->dma_configure() ------------------------

/** Per task, the lock classes it holds, from lock events. */
function heldBy(events: readonly TraceEvent[], upTo: number, task: string): string[] {
  const held: string[] = [];
  for (let i = 0; i < upTo; i++) {
    const e = events[i]!;
    if (e.task !== task) continue;
    if (e.ev === 'lock.acquired' && e.ok) held.push(e.lock.cls);
    else if (e.ev === 'lock.released') {
      const j = held.lastIndexOf(e.lock.cls);
      if (j >= 0) held.splice(j, 1);
    }
  }
  return held;
}

const HOTDEV = '0000:00:05.0';
const WINDOW_TOPOLOGY: Topology = {
  ...TOPOLOGY,
  pci: [...TOPOLOGY.pci, { bdf: HOTDEV, unit: 'vtd0', hotplug: true }],
};

describe('iommu_init_device() drops iommu_probe_device_lock around dma_configure (drivers/iommu/iommu.c; B5/B6)', () => {
  it('boot: every device without a fwspec and a driver reaches its bus dma_configure from the IOMMU probe without the probe lock', async () => {
    const { rec, checkers } = recorded();
    const run = await runKernel({ name: 'window', topology: TOPOLOGY, variants: {}, tasks: [] }, { seed: 4, checkers });
    expect(unexpected(run.result.findings)).toEqual([]);
    const sends = rec.events.flatMap((e, i) => (e.ev === 'send' && e.kind === 'call' && e.op === 'bus_dma_configure' ? [i] : []));
    // the PCI endpoints and bridges behind vtd0/amd0 and the SMMU platform devices; not the mock device (its fwspec is set before device_add)
    expect(sends.length).toBeGreaterThan(0);
    for (const i of sends) expect(heldBy(rec.events, i, rec.events[i]!.task)).not.toContain('iommu_probe_device_lock');
    // the SMMU devices got their fwspec from of_iommu_configure in that window, and were probed
    expect(groupOf(run, GPU0).devices).toEqual([GPU0, GPU1]);
  });

  it('another task takes iommu_probe_device_lock inside the window (a hot-add racing a bind\'s of_iommu_configure)', async () => {
    // the schedule runs the hot-add until its IOMMU probe has called the bus dma_configure, then the bind first
    const { rec, checkers } = recorded();
    const inWindow = () => rec.events.some((e) => e.ev === 'send' && e.op === 'bus_dma_configure' && e.task === 'add');
    const strategy: Strategy = {
      name: 'window',
      begin: () => undefined,
      pick: (enabled: readonly TaskId[]) => {
        const want = inWindow() ? 'bind' : 'add';
        const i = enabled.findIndex((t) => t === want);
        if (i >= 0) return i;
        const other = enabled.findIndex((t) => t !== 'bind' && t !== 'add');
        return other >= 0 ? other : 0;
      },
    };
    const run = await runKernel({
      name: 'window-race', topology: WINDOW_TOPOLOGY, variants: {},
      tasks: [{ id: 'add', calls: [call(PCI, 'pci_rescan_bus', { dev: HOTDEV })] }, { id: 'bind', calls: [call(DRIVER_CORE, 'bind_store', { dev: GPU0, driver: 'plat' })] }],
    }, { strategy, checkers });
    expect(run.result.outcome).toBe('completed');
    expect(unexpected(run.result.findings)).toEqual([]);
    expect(run.result.results).toMatchObject({ add: [0], bind: [0] });
    const ev = rec.events;
    const open = ev.findIndex((e) => e.ev === 'send' && e.op === 'bus_dma_configure' && e.task === 'add');
    const close = ev.findIndex((e, i) => i > open && e.task === 'add' && e.ev === 'lock.acquired' && e.lock.cls === 'iommu_probe_device_lock');
    expect(open).toBeGreaterThanOrEqual(0);
    expect(ev.some((e, i) => i > open && i < close && e.task === 'bind' && e.ev === 'lock.acquired' && e.lock.cls === 'iommu_probe_device_lock')).toBe(true);
    // after retaking the lock the probe went on (no other walker finished it): the hot-added device is in its own group
    expect(groupOf(run, HOTDEV).devices).toEqual([HOTDEV]);
  });
});

// ---- the new functions, one call each ------------------------------------------------------------------------

interface FnCase {
  readonly name: string;
  readonly calls: readonly Call[];
  readonly want: readonly unknown[];
  readonly findings: readonly string[];
}

const errName = (v: unknown): unknown => (typeof v === 'object' && v !== null && 'errno' in v ? (v as { errno: string }).errno : v);
const FN_CASES: readonly FnCase[] = [
  { name: 'of_iommu_configure: -ENODEV for a device behind a DMAR unit (no firmware IOMMU description)', calls: [call(IOMMU_CORE, 'of_iommu_configure', { dev: RMRR })], want: ['ENODEV'], findings: [] },
  { name: 'of_iommu_configure: -ENODEV for the mock unit (its fwspec is the selftest\'s)', calls: [call(IOMMU_CORE, 'of_iommu_configure', { dev: MOCKDEV })], want: ['ENODEV'], findings: [] },
  { name: 'of_iommu_configure: 0 for an SMMUv3 device whose fwspec exists (no replay)', calls: [call(IOMMU_CORE, 'of_iommu_configure', { dev: GPU0 })], want: [0], findings: [] },
  { name: 'bus_dma_configure: a device behind no IOMMU configures nothing', calls: [call(DRIVER_CORE, 'bus_dma_configure', { dev: NOIOMMU })], want: [0], findings: [] },
  { name: 'bus_dma_configure: -ENODEV for a device that does not exist', calls: [call(DRIVER_CORE, 'bus_dma_configure', { dev: 'nope' })], want: ['ENODEV'], findings: [] },
  {
    // device_lock_assert() in pci_dev_save_and_disable(), and dev->driver read without the lock that guards it
    name: 'pci_err_handler_reset: reset_prepare without device_lock is an assert-held finding and an unguarded dev->driver read',
    calls: [call(DRIVER_CORE, 'pci_err_handler_reset', { dev: NIC, which: 'reset_prepare' })], want: [[]], findings: ['assert-held', 'unguarded-access'],
  },
  {
    // pci_dev_restore() asserts nothing; its dev->driver read still wants device_lock
    name: 'pci_err_handler_reset: reset_done of a driver without the callback runs nothing (called without device_lock: an unguarded read, no assert)',
    calls: [call(DRIVER_CORE, 'pci_err_handler_reset', { dev: NIC, which: 'reset_done' })], want: [[]], findings: ['unguarded-access'],
  },
];

describe('of_iommu_configure, bus_dma_configure, pci_err_handler_reset: one execution per case', () => {
  for (const c of FN_CASES) {
    it(c.name, async () => {
      const run = await runKernel({ name: c.name, topology: TOPOLOGY, variants: {}, tasks: [{ id: 't', calls: c.calls }] }, { seed: 9 });
      expect(run.result.outcome).toBe('completed');
      expect(((run.result.results['t'] ?? []) as unknown[]).map(errName)).toEqual(c.want);
      expect(unexpected(run.result.findings, c.findings)).toEqual([]);
      for (const kind of c.findings) expect(run.result.findings.map((f) => f.kind)).toContain(kind);
    });
  }
});
