import type { Kernel, KObject } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import { objId } from '../../protocol/ids.ts';
import type { KernelConfig } from '../../protocol/kernel.ts';
import type { DriverSpec } from '../../protocol/topology.ts';
import { resolveVariants } from '../../protocol/variants.ts';
import type { ModelVariants } from '../../protocol/variants.ts';
import { classLock } from '../../protocol/lock-classes.ts';
import { parseBdf, pciGroupPartition, pciTopology, upstreamBridge } from './topology.ts';
import type { PciTopology } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * struct pci_dev, as far as the model needs it. The object id is the BDF:
 * the same object as driver-core's struct device (embedded in the kernel),
 * which driver-core allocates in device_add() and frees at the last
 * put_device(). The pci actor therefore writes a pci_dev's fields only
 * between its device_add() and its final put_device(); bus membership lives
 * on the (static) bus objects.
 */
export interface PciDev extends KObject {
  readonly bdf: string;
  /**
   * PCI_DEV_ADDED (pci_dev_assign_added / pci_dev_test_and_clear_added, an
   * atomic bit in dev->priv_flags, so accessed locklessly): set once
   * device_add() has run and the driver was matched, cleared when
   * pci_stop_dev() unbinds the driver on removal.
   */
  present: boolean;
  /**
   * pci_dev_set_disconnected(): dev->error_state = pci_channel_io_perm_failure,
   * written with WRITE_ONCE and read with READ_ONCE (pci_dev_is_disconnected),
   * so every access is lockless.
   */
  disconnected: boolean;
  /** A reset method is running on the device (the reset framework holds device_lock). */
  in_reset: boolean;
  /** pdev->sriov->num_VFs of a PF (0 otherwise): written by sriov_enable/sriov_disable under the PF's device_lock (actors/pci/iov.ts). */
  num_VFs: number;
}

/**
 * struct pci_bus: its `devices` list (bus->devices), written under
 * pci_bus_sem (write) by callers that also hold pci_rescan_remove_lock, read
 * under pci_bus_sem (read) as pci_walk_bus() does. Buses are static objects:
 * the secondary bus of every bridge, and one root bus per segment:bus.
 */
export interface PciBus extends KObject {
  devices: readonly string[];
}

export interface PciState {
  readonly topo: PciTopology;
  readonly devs: ReadonlyMap<string, PciDev>;
  readonly buses: ReadonlyMap<string, PciBus>;
  /** pci_device_group()'s answer for every device, computed once (topology.ts pciGroupPartition). */
  readonly groups: ReadonlyMap<string, readonly string[]>;
  /** The model's variant choice (protocol/variants.ts); pciehp reads `pciehp-unconfigure`. */
  readonly variants: ModelVariants;
  /** Devices whose IOMMU is described by firmware (DT / IORT: SMMUv3): of_dma_configure() configures their IOMMU. */
  readonly fwIommu: ReadonlySet<string>;
  /** The PCI drivers by name (their sriov_configure callback, actors/pci/iov.ts). */
  readonly drivers: ReadonlyMap<string, DriverSpec>;
}

export type K = Kernel<PciState>;

/** The bus a device sits on: its bridge's secondary bus, or the root bus of its segment:bus. */
export function busKeyOf(pt: PciTopology, bdf: string): string {
  const bridge = upstreamBridge(pt, bdf);
  if (bridge !== null) return `pci_bus(${bridge})`;
  const b = parseBdf(bdf);
  return `pci_bus(${b.segment}:${b.bus})`;
}

export function initState(config: KernelConfig): PciState {
  const topo = pciTopology(config.topology);
  const devs = new Map<string, PciDev>();
  const buses = new Map<string, PciBus>();
  for (const bdf of topo.order) {
    devs.set(bdf, { id: objId(bdf), bdf, present: false, disconnected: false, in_reset: false, num_VFs: 0 });
    const key = busKeyOf(topo, bdf);
    if (!buses.has(key)) buses.set(key, { id: objId(key), devices: [] });
  }
  const fwUnits = new Set(config.topology.units.filter((u) => u.kind === 'smmu-v3').map((u) => u.name));
  const fwIommu = new Set(config.topology.pci.filter((d) => d.unit !== undefined && fwUnits.has(d.unit)).map((d) => d.bdf));
  const drivers = new Map(config.topology.drivers.filter((d) => d.bus === 'pci').map((d) => [d.name, d]));
  return { topo, devs, buses, groups: pciGroupPartition(topo), variants: resolveVariants(config.variants), fwIommu, drivers };
}

export function devOf(k: K, bdf: string): PciDev | undefined {
  return k.state.devs.get(bdf);
}

function busOf(k: K, bdf: string): PciBus {
  return k.state.buses.get(busKeyOf(k.state.topo, bdf)) as PciBus;
}

/** drivers/pci/search.c pci_bus_sem: the bus device lists. */
export const pciBusSem = (): LockRef => classLock('pci_bus_sem');

/** Which of `devs` are on their bus lists; the caller holds pci_bus_sem. */
export function onBusLocked(k: K, devs: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const d of devs) {
    if (!k.state.devs.has(d)) continue;
    if (k.read(busOf(k, d), 'devices', { guard: pciBusSem() }).includes(d)) out.add(d);
  }
  return out;
}

/** Which of `devs` are on their bus lists, read under pci_bus_sem (read) as list walkers do. */
export async function presentOf(k: K, devs: readonly string[]): Promise<Set<string>> {
  await k.down_read(pciBusSem());
  const out = onBusLocked(k, devs);
  await k.up_read(pciBusSem());
  return out;
}

/** list_add_tail(&dev->bus_list, &bus->devices) / list_del() under down_write(&pci_bus_sem). */
export const setOnBus = kfunc('list_add_tail', { actor: 'pci', source: 'drivers/pci/probe.c: list_add_tail' }, async function setOnBus(k: K, bdf: string, on: boolean): Promise<void> {
  const g = { guard: pciBusSem() };
  await k.down_write(pciBusSem());
  const bus = busOf(k, bdf);
  // a device is on its bus's list at most once: an add of one already there moves it to the tail
  k.listDel(bus, 'devices', bdf, g);
  if (on) k.listAdd(bus, 'devices', bdf, g);
  await k.up_write(pciBusSem());
});

/**
 * pci_dev_assign_added(dev, true) after device_add(), or
 * pci_dev_test_and_clear_added() on removal. A re-scanned device is a new
 * struct pci_dev, so adding also starts error_state at pci_channel_io_normal.
 * In the kernel that is kzalloc() in pci_alloc_dev(), before anyone can see
 * the device; here the object is reused, so the reset is made under
 * pci_bus_sem (write), which orders it after any pci_walk_bus() that marked
 * the previous incarnation disconnected.
 */
export const setAdded = kfunc('pci_dev_assign_added', { actor: 'pci', source: 'drivers/pci/bus.c: pci_dev_assign_added' }, async function setAdded(k: K, pd: PciDev, added: boolean): Promise<void> {
  k.write(pd, 'present', added, { lockless: true });
  if (!added) return;
  await k.down_write(pciBusSem());
  k.write(pd, 'disconnected', false, { lockless: true });
  await k.up_write(pciBusSem());
});
