import type { DriverAction } from '../protocol/driver-actions.ts';
import type { PciResetMethod, UnitKind } from '../protocol/topology.ts';
import { profileIds } from '../hardware/profiles.ts';
import type { DocDriver, DocPci, DocPlatform, DocTopology, DocUnit } from './document.ts';
import type { Rand } from './rand.ts';

/**
 * Random machines: IOMMU units of every kind and version, PCI trees (root
 * ports and switches with or without ACS, multi-function devices, DMA
 * aliases, ATS/PASID endpoints, RMR (require_direct) and attach-deferred
 * devices, pciehp slots, hot-pluggable devices), platform devices in shared
 * groups, and drivers written in the driver-as-data language. Sizes stay
 * small: a fuzz execution boots the whole machine every time.
 */

/** Every "kind@version" a unit can have (hardware/profiles.ts), split back into kind and version. */
function unitProfiles(): readonly { readonly kind: UnitKind; readonly version?: string }[] {
  return profileIds().map((id) => {
    const at = id.indexOf('@');
    return at < 0 ? { kind: id as UnitKind } : { kind: id.slice(0, at) as UnitKind, version: id.slice(at + 1) };
  });
}

const SHORT: Readonly<Record<UnitKind, string>> = { vtd: 'vtd', 'amd-vi': 'amd', 'smmu-v3': 'smmu', mock: 'mock' };

function genUnits(r: Rand): DocUnit[] {
  const profiles = unitProfiles();
  const n = r.weighted([[6, 1], [3, 2], [1, 3]] as const);
  const out: DocUnit[] = [];
  for (let i = 0; i < n; i++) {
    const p = r.pick(profiles);
    const deferCapable = p.kind === 'vtd' || p.kind === 'amd-vi';
    out.push({
      name: `${SHORT[p.kind]}${i}`, kind: p.kind,
      ...(p.version !== undefined ? { version: p.version } : {}),
      ...(r.chance(0.25) ? { max_pasids: r.pick([0, 1 << 8, 1 << 20]) } : {}),
      ...(deferCapable && r.chance(0.4) ? { attach_deferred: true } : {}),
    });
  }
  return out;
}

// ---- drivers -----------------------------------------------------------------------------------

/**
 * A driver's probe acquires one resource and its remove releases it, the
 * way a correct driver is written: the probe stops at its first error (so a
 * failed probe holds nothing its remove would release), and what follows the
 * acquisition only uses it (`ignore: true`: its failure does not fail the
 * probe, and nothing of it needs undoing). Work items and modules in the
 * generated tasks then only use what the drivers hold (ops-gen.ts), so every
 * generated workload is legal kernel client code and a finding is the
 * kernel's (or the model's), not the workload's.
 */
interface Resource {
  readonly name: string;
  readonly bus: 'pci' | 'platform';
  readonly driver_managed_dma?: boolean;
  readonly acquire: readonly DriverAction[];
  readonly use?: readonly DriverAction[];
  readonly release: readonly DriverAction[];
}

const PRIVATE_IOVA = 0x200000;

/**
 * Drivers whose probe attaches a domain of their own to their device (RID or
 * PASID). iommu_attach_device() wants a singleton group; legal.ts keeps them
 * from booting on a device whose group has other members.
 */
export const PRIVATE_DOMAIN_DRIVERS: readonly string[] = ['accel', 'pasid-accel', 'plat-shared'];

/**
 * Drivers that attach PASIDs (a PASID domain, an SVA bond). A real one
 * checks its device can do PASID, and a PCI device only gets PASID enabled
 * on an ACS-isolated path (pci_enable_pasid()), so in a group of its own;
 * legal.ts binds them only there. (The core accepts a PASID attach on a
 * device without PASID support and then refuses or WARNs on every DMA
 * ownership change of the group's other members.)
 */
export const PASID_DRIVERS: readonly string[] = ['pasid-accel', 'sva-accel'];

const PCI_RESOURCES: readonly Resource[] = [
  { name: 'nic', bus: 'pci', acquire: [], release: [] },
  { name: 'dma-nic', bus: 'pci', acquire: [{ do: 'dma_map', as: 'buf' }], use: [{ do: 'dma', iova: 'buf' }], release: [{ do: 'dma_unmap', iova: 'buf' }] },
  {
    name: 'accel', bus: 'pci',
    acquire: [{ do: 'iommu_paging_domain_alloc', as: 'pd' }, { do: 'iommu_attach_device', domain: 'pd' }],
    use: [{ do: 'iommu_map', domain: 'pd', iova: PRIVATE_IOVA }, { do: 'dma', iova: PRIVATE_IOVA }],
    release: [{ do: 'iommu_detach_device', domain: 'pd' }, { do: 'iommu_domain_free', domain: 'pd' }],
  },
  {
    name: 'pasid-accel', bus: 'pci',
    acquire: [{ do: 'iommu_paging_domain_alloc', as: 'pd', flags: ['pasid'] }, { do: 'iommu_attach_device_pasid', domain: 'pd', pasid: 1 }],
    use: [{ do: 'iommu_map', domain: 'pd', iova: PRIVATE_IOVA }, { do: 'dma', iova: PRIVATE_IOVA, pasid: 1 }],
    release: [{ do: 'iommu_detach_device_pasid', domain: 'pd', pasid: 1 }, { do: 'iommu_domain_free', domain: 'pd' }],
  },
  // an SVA bond lives inside the probe: one a bound driver still held at the end of the run would read as a leak
  {
    name: 'sva-accel', bus: 'pci',
    acquire: [{ do: 'iommu_sva_bind_device', mm: 'mm1', as: 'bond' }], use: [{ do: 'dma', iova: 0x1000, pasid: 1 }, { do: 'iommu_sva_unbind_device', handle: 'bond' }],
    release: [],
  },
  { name: 'resetting', bus: 'pci', acquire: [], use: [{ do: 'pci_reset_function_locked' }, { do: 'dma_map', as: 'buf' }], release: [] },
  { name: 'vfio-pci', bus: 'pci', driver_managed_dma: true, acquire: [{ do: 'vfio_register_group_dev' }], release: [{ do: 'vfio_unregister_group_dev' }] },
  { name: 'pci-stub', bus: 'pci', driver_managed_dma: true, acquire: [], release: [] },
  {
    name: 'owner', bus: 'pci', driver_managed_dma: true,
    acquire: [{ do: 'iommu_device_claim_dma_owner', owner: 'owner-drv' }], release: [{ do: 'iommu_device_release_dma_owner' }],
  },
  {
    name: 'group-owner', bus: 'pci', driver_managed_dma: true,
    acquire: [{ do: 'iommu_group_get', as: 'g' }, { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'group-drv' }],
    release: [{ do: 'iommu_group_release_dma_owner', group: 'g' }, { do: 'iommu_group_put', group: 'g' }],
  },
];

const PLATFORM_RESOURCES: readonly Resource[] = [
  { name: 'plat', bus: 'platform', acquire: [{ do: 'dma_map', as: 'buf' }], use: [{ do: 'dma', iova: 'buf' }], release: [{ do: 'dma_unmap', iova: 'buf' }] },
  {
    name: 'plat-shared', bus: 'platform',
    acquire: [{ do: 'iommu_paging_domain_alloc', as: 'sd' }, { do: 'iommu_attach_device_shared', domain: 'sd' }],
    release: [{ do: 'iommu_detach_device_shared', domain: 'sd' }, { do: 'iommu_domain_free', domain: 'sd' }],
  },
  { name: 'plat-legacy', bus: 'platform', acquire: [], use: [{ do: 'iommu_domain_alloc', bus: 'platform', as: 'd' }], release: [] },
];

/** vfio-pci as data (docs/vfio.md "vfio-pci is data"). */
export const VFIO_PCI: DocDriver = { name: 'vfio-pci', bus: 'pci', driver_managed_dma: true, probe: [{ do: 'vfio_register_group_dev' }], remove: [{ do: 'vfio_unregister_group_dev' }] };

function fromResource(r: Rand, x: Resource): DocDriver {
  const use = (x.use ?? []).map((a) => ({ ...a, ignore: true }) as DriverAction);
  const probe = [...x.acquire, ...use];
  return {
    name: x.name, bus: x.bus,
    ...(x.driver_managed_dma === true ? { driver_managed_dma: true } : {}),
    ...(x.name !== 'pcieport' && r.chance(0.12) ? { defer: r.between(1, 2) } : {}),
    ...(x.name !== 'pcieport' && r.chance(0.12) ? { async: true } : {}),
    ...(probe.length > 0 ? { probe } : {}),
    ...(x.release.length > 0 ? { remove: x.release } : {}),
  };
}

function genDrivers(r: Rand, platform: boolean): DocDriver[] {
  const chosen = new Map<string, Resource>([['pcieport', { name: 'pcieport', bus: 'pci', acquire: [], release: [] }]]);
  for (const x of [r.pick(PCI_RESOURCES), ...r.subset(PCI_RESOURCES, 0.3)]) chosen.set(x.name, x);
  if (platform) for (const x of [r.pick(PLATFORM_RESOURCES), ...r.subset(PLATFORM_RESOURCES, 0.3)]) chosen.set(x.name, x);
  return [...chosen.values()].map((x) => fromResource(r, x));
}

// ---- the PCI tree ------------------------------------------------------------------------------

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const bdf = (bus: number, dev: number, fn: number): string => `0000:${hex2(bus)}:${hex2(dev)}.${fn}`;

const RESET_METHODS: readonly PciResetMethod[] = ['flr', 'pm', 'bus', 'cxl_bus'];

interface TreeCtx {
  readonly r: Rand;
  readonly units: readonly DocUnit[];
  readonly pciDrivers: readonly string[];
  readonly out: DocPci[];
  nextBus: number;
  slots: number;
}

/** An endpoint's optional capabilities. */
function endpointCaps(c: TreeCtx, unit: DocUnit | undefined): Partial<DocPci> {
  const r = c.r;
  return {
    ...(r.chance(0.5) ? { ats: true } : {}),
    ...(r.chance(0.35) ? { pasid_bits: r.pick([5, 16, 20]) } : {}),
    // firmware reserved regions (RMRR/IVMD/IORT RMR) exist for real units, not the selftest mock
    ...(unit !== undefined && unit.kind !== 'mock' && r.chance(0.12) ? { require_direct: true } : {}),
    ...(unit?.attach_deferred === true && r.chance(0.4) ? { attach_deferred: true } : {}),
    ...(r.chance(0.3) ? { reset_methods: r.subset(RESET_METHODS, 0.5).concat(r.chance(0.5) ? ['flr'] : []).filter((m, i, a) => a.indexOf(m) === i) } : {}),
    ...(c.pciDrivers.length > 0 && r.chance(0.7) ? { driver: r.pick(c.pciDrivers) } : {}),
  };
}

/** The unit most devices of a machine use, and sometimes another one or none. */
function unitFor(c: TreeCtx): DocUnit | undefined {
  if (c.r.chance(0.06)) return undefined;
  return c.r.chance(0.8) ? c.units[0] : c.r.pick(c.units);
}

/** Devices below `parent` on bus `bus`; depth bounds switches below switches. */
function genBus(c: TreeCtx, parent: string | undefined, bus: number, depth: number, slot: string | undefined): void {
  const r = c.r;
  const n = r.between(1, depth === 0 ? 3 : 2);
  for (let dev = 0; dev < n; dev++) {
    const unit = unitFor(c);
    const common: Partial<DocPci> = {
      ...(parent !== undefined ? { parent } : {}),
      ...(unit !== undefined ? { unit: unit.name } : {}),
      ...(slot !== undefined ? { slot } : {}),
      ...(slot !== undefined && r.chance(0.2) ? { hotplug: true } : {}),
    };
    const devNo = parent === undefined ? 0x19 + dev : dev;
    if (depth < 2 && r.chance(parent === undefined ? 0.75 : 0.2)) {
      // a root port (on the root bus) or a switch port: a bridge with its own secondary bus
      const id = bdf(bus, devNo, 0);
      const hasSlot = r.chance(0.5);
      c.out.push({ id, ...common, bridge: true, ...(r.chance(0.6) ? { acs: true } : {}) } as DocPci);
      const secondary = c.nextBus++;
      genBus(c, id, secondary, depth + 1, hasSlot ? `slot${c.slots++}` : undefined);
      continue;
    }
    const functions = r.chance(0.3) ? 2 : 1;
    const mfAcs = functions > 1 && r.chance(0.4);
    const first = bdf(bus, devNo, 0);
    for (let fn = 0; fn < functions; fn++) {
      const id = bdf(bus, devNo, fn);
      const alias = fn > 0 && r.chance(0.15) ? { alias: first } : {};
      c.out.push({ id, ...common, ...endpointCaps(c, unit), ...(mfAcs ? { acs: true } : {}), ...alias } as DocPci);
    }
  }
}

function genPlatform(r: Rand, units: readonly DocUnit[], drivers: readonly string[]): DocPlatform[] {
  if (drivers.length === 0) return [];
  const n = r.between(1, 3);
  const grouped = n > 1 && r.chance(0.5);
  const unit = r.pick(units);
  return Array.from({ length: n }, (_, i) => ({
    id: `plat${i}`, unit: unit.name,
    ...(grouped && i < 2 ? { group: 'pgrp' } : {}),
    ...(r.chance(0.8) ? { driver: r.pick(drivers) } : {}),
    ...(r.chance(0.3) ? { pasid_bits: 20 } : {}),
  }));
}

/** A random machine. */
export function generateTopology(r: Rand): DocTopology {
  const units = genUnits(r);
  const withPlatform = r.chance(0.3);
  const drivers = genDrivers(r, withPlatform);
  const pciDrivers = drivers.filter((d) => d.bus === 'pci').map((d) => d.name);
  // bridges get pcieport; endpoints one of the other drivers
  const tree: TreeCtx = { r, units, pciDrivers: pciDrivers.filter((d) => d !== 'pcieport'), out: [], nextBus: 1, slots: 0 };
  genBusWithPorts(tree, pciDrivers.includes('pcieport'));
  const platDrivers = drivers.filter((d) => d.bus === 'platform').map((d) => d.name);
  return {
    units, pci: tree.out, devices: withPlatform ? genPlatform(r, units, platDrivers) : [], drivers,
    mms: ['mm1', 'mm2'],
    ...(r.chance(0.05) ? { passthrough: true } : {}),
  };
}

/** The root bus: root ports (bridges bound to pcieport) and root-complex integrated endpoints. */
function genBusWithPorts(c: TreeCtx, pcieport: boolean): void {
  const before = c.out.length;
  genBus(c, undefined, 0, 0, undefined);
  if (!pcieport) return;
  // bridges are bound to pcieport; genBus left endpoints' drivers to the endpoint drivers
  for (let i = before; i < c.out.length; i++) {
    const d = c.out[i] as DocPci;
    if (d.bridge === true && d.driver === undefined) c.out[i] = { ...d, driver: 'pcieport' };
  }
}
