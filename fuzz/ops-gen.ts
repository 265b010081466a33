import type { DriverAction } from '../protocol/driver-actions.ts';
import type { DocOp, DocTopology } from './document.ts';
import type { Rand } from './rand.ts';

/**
 * Random operations from the scenario op vocabulary (scenarios/format/ops.ts),
 * with arguments drawn from the machine so that most calls get past the
 * kernel's argument checks: a bind names a driver of the device's bus, an
 * unbind the driver the device boots with, a DMA an IOVA something maps.
 *
 * Two kinds of op. What userspace and the hardware do (sysfs bind, unbind,
 * remove, rescan, reset; pciehp events; a device's DMA) is legal at any
 * time, so any device is a target. What kernel code does (a driver's work
 * item, a module's calls) is legal only on a device that code holds: legal.ts
 * moves those ops off devices other tasks remove or rebind. The action lists
 * of kernel code only use what the drivers hold: each list is correct
 * whichever of its calls fails (an action list has no error handling; the
 * acquire/release pairs live in drivers' probe and remove, topology-gen.ts).
 */

/** What the op generator knows about a machine. */
export interface MachineView {
  readonly pci: readonly string[];
  readonly endpoints: readonly string[];
  readonly bridges: readonly string[];
  readonly platform: readonly string[];
  readonly slots: readonly string[];
  readonly hotplug: readonly string[];
  readonly pasid: readonly string[];
  /** Device → the driver it boots with. */
  readonly bootDriver: ReadonlyMap<string, string>;
  readonly pciDrivers: readonly string[];
  readonly platformDrivers: readonly string[];
}

export function viewOf(t: DocTopology): MachineView {
  const bootDriver = new Map<string, string>();
  for (const d of [...t.pci, ...t.devices]) if (d.driver !== undefined) bootDriver.set(d.id, d.driver);
  return {
    pci: t.pci.map((d) => d.id),
    endpoints: t.pci.filter((d) => d.bridge !== true).map((d) => d.id),
    bridges: t.pci.filter((d) => d.bridge === true).map((d) => d.id),
    platform: t.devices.map((d) => d.id),
    slots: [...new Set(t.pci.flatMap((d) => (d.slot === undefined ? [] : [d.slot])))],
    hotplug: t.pci.filter((d) => d.hotplug === true).map((d) => d.id),
    pasid: [...t.pci, ...t.devices].filter((d) => (d.pasid_bits ?? 0) > 0).map((d) => d.id),
    bootDriver,
    pciDrivers: t.drivers.filter((d) => d.bus === 'pci' && d.name !== 'pcieport').map((d) => d.name),
    platformDrivers: t.drivers.filter((d) => d.bus === 'platform').map((d) => d.name),
  };
}

/**
 * IOVAs a device DMAs at outside the DMA API's own buffers: an RMR window
 * (identity-mapped while the device has it) and an address nothing maps
 * (a fault, or blocked during a reset). Not the DMA API's or a private
 * domain's IOVAs: DMA there while their owner unmaps them is the owner's
 * bug, not the kernel's.
 */
export const IOVAS: readonly number[] = [0x80000000, 0xdead000];

/** A device to act on: endpoints mostly, bridges and platform devices sometimes. */
export function anyDevice(r: Rand, m: MachineView): string {
  if (m.platform.length > 0 && (m.pci.length === 0 || r.chance(0.15))) return r.pick(m.platform);
  if (m.bridges.length > 0 && (m.endpoints.length === 0 || r.chance(0.1))) return r.pick(m.bridges);
  return r.pick(m.endpoints.length > 0 ? m.endpoints : m.pci);
}

/** A device that has a driver other than pcieport at boot (where driver work items and unbinds make sense). */
export function boundDevice(r: Rand, m: MachineView): string {
  const bound = [...m.bootDriver.keys()].filter((d) => m.bootDriver.get(d) !== 'pcieport');
  return bound.length > 0 && r.chance(0.85) ? r.pick(bound) : anyDevice(r, m);
}

/**
 * Kernel calls that are correct whichever of them fails: (for a driver's
 * work item) the DMA API on a buffer of the list's own (a failed map leaves a name no IOVA has, which
 * the unmap refuses with -EINVAL), device DMA at a fixed IOVA, resets, a
 * bus-wide domain allocation. (iommu_get_domain_for_dev() is left out: its
 * lockless read of group->domain is only legal for the domain's owner.) `dev` is set for a module's list.
 */
export function actionList(r: Rand, dev: string | null, pasid: boolean, tag: string): DriverAction[] {
  const on = dev === null ? {} : { dev };
  const iova = `iova${tag}`;
  // the DMA API is the device's driver's to call: a work item's, not a module's
  const dmaApi = dev === null ? 5 : 0;
  const snippet = r.weighted<() => DriverAction[]>([
    [dmaApi, () => [{ do: 'dma_map', as: iova, ...on }, { do: 'dma', iova, ...on }, { do: 'dma_unmap', iova, ...on }].slice(0, r.between(1, 3)) as DriverAction[]],
    [4, () => [{ do: 'dma', iova: r.pick(IOVAS), ...(pasid && r.chance(0.4) ? { pasid: 1 } : {}), ...on }]],
    [3, () => [{ do: r.pick(['pci_reset_function', 'pci_try_reset_function'] as const), ...on }]],
    [1, () => [{ do: 'iommu_domain_alloc', bus: r.chance(0.8) ? 'pci' : 'platform', as: `d${tag}` }]],
  ]);
  const out = snippet();
  if (r.chance(0.3)) out.push(...actionList(r, dev, pasid, `${tag}b`));
  if (r.chance(0.2)) out.splice(r.between(1, out.length), 0, { do: 'yield' });
  return out;
}

/** The ops a generated task draws from, by weight. */
export type OpKind =
  | 'driver.bind' | 'driver.unbind' | 'driver.call' | 'module.call' | 'device.del' | 'pci.hot_remove'
  | 'pci.slot' | 'pci.rescan' | 'pci.reset_function' | 'pci.try_reset_function' | 'iommu.domain_alloc'
  | 'iommu.group_claim' | 'device.dma' | 'dma.map';

const WEIGHTS: readonly (readonly [number, OpKind])[] = [
  [5, 'driver.bind'], [5, 'driver.unbind'], [5, 'driver.call'], [4, 'module.call'], [1, 'device.del'],
  [3, 'pci.hot_remove'], [2, 'pci.slot'], [2, 'pci.rescan'], [4, 'pci.reset_function'], [2, 'pci.try_reset_function'],
  [1, 'iommu.domain_alloc'], [3, 'iommu.group_claim'], [3, 'device.dma'], [3, 'dma.map'],
];

/** A fresh tag for an op's result names: no two ops of a document share one by accident. */
export function freshTag(r: Rand): string {
  return r.u32().toString(36).slice(0, 5);
}

function build(r: Rand, m: MachineView, kind: OpKind): DocOp | null {
  const tag = freshTag(r);
  switch (kind) {
    case 'driver.bind': {
      const dev = anyDevice(r, m);
      const drivers = m.platform.includes(dev) ? m.platformDrivers : m.pciDrivers;
      const own = m.bootDriver.get(dev);
      if (drivers.length === 0) return null;
      return { op: 'driver.bind', dev, driver: own !== undefined && r.chance(0.5) ? own : r.pick(drivers) };
    }
    case 'driver.unbind': {
      const dev = boundDevice(r, m);
      const drv = m.bootDriver.get(dev) ?? (m.platform.includes(dev) ? m.platformDrivers[0] : m.pciDrivers[0]);
      return drv === undefined ? null : { op: 'driver.unbind', dev, driver: drv };
    }
    case 'driver.call': {
      const dev = boundDevice(r, m);
      return { op: 'driver.call', dev, actions: actionList(r, null, m.pasid.includes(dev), tag) };
    }
    case 'module.call': {
      const dev = anyDevice(r, m);
      return { op: 'module.call', actions: actionList(r, dev, m.pasid.includes(dev), tag) };
    }
    case 'device.del':
      return m.platform.length === 0 ? null : { op: 'device.del', dev: r.pick(m.platform) };
    case 'pci.hot_remove':
      return m.pci.length === 0 ? null : { op: 'pci.hot_remove', dev: r.chance(0.5) && m.bridges.length > 0 ? r.pick(m.bridges) : r.pick(m.pci) };
    case 'pci.slot':
      return m.slots.length === 0 ? null : { op: r.chance(0.5) ? 'pci.surprise_remove' : 'pci.slot_disable', slot: r.pick(m.slots) };
    case 'pci.rescan':
      return m.hotplug.length === 0 ? null : { op: 'pci.rescan', dev: r.pick(m.hotplug) };
    case 'pci.reset_function':
    case 'pci.try_reset_function':
      return m.pci.length === 0 ? null : { op: kind, dev: r.chance(0.9) && m.endpoints.length > 0 ? r.pick(m.endpoints) : r.pick(m.pci) };
    case 'iommu.domain_alloc':
      return { op: 'iommu.domain_alloc', bus: r.chance(0.85) ? 'pci' : 'platform', as: `d${tag}` };
    case 'iommu.group_claim':
      return { op: 'iommu.group_claim', dev: anyDevice(r, m), owner: `user${tag}` };
    case 'device.dma': {
      const dev = anyDevice(r, m);
      return { op: 'device.dma', dev, iova: r.pick(IOVAS), ...(m.pasid.includes(dev) && r.chance(0.3) ? { pasid: 1 } : {}) };
    }
    case 'dma.map':
      return { op: 'dma.map', dev: boundDevice(r, m) };
  }
}

/** One random op for machine `m`. */
export function generateOp(r: Rand, m: MachineView): DocOp {
  for (;;) {
    const op = build(r, m, r.weighted(WEIGHTS));
    if (op !== null) return op;
  }
}
