import type { DriverAction } from '../protocol/driver-actions.ts';
import { pciGroupPartition, pciTopology, subtree } from '../actors/pci/topology.ts';
import type { DocOp, DocTask, DocTopology, FuzzDocument } from './document.ts';
import { viewOf } from './ops-gen.ts';
import { PASID_DRIVERS, PRIVATE_DOMAIN_DRIVERS } from './topology-gen.ts';
import type { Rand } from './rand.ts';

/**
 * Keeps a workload legal kernel client code. Userspace and the hardware may
 * remove, rebind or reset any device at any time; kernel code may only act
 * on a device it holds. A module holds a reference (its calls are fine while
 * the device is unbound and rebound, not once it is deleted); a driver's work
 * item runs only while its driver is bound (remove() cancels it); a DMA
 * owner keeps its group's devices (VFIO's unregister waits for it). So:
 *
 * - a driver work item (`driver.call`) or a driver's DMA-API map (`dma.map`)
 *   only targets a device bound at boot to a driver that uses the DMA API
 *   (not pcieport, not a driver_managed_dma one such as vfio-pci) and that
 *   no other op removes, binds or unbinds;
 * - a module's calls, a device's DMA, `pci_try_reset_function()` (a kernel
 *   API), and a sysfs reset never target a device another op removes (the
 *   kernel keeps a device alive while a write to its own sysfs `reset` file
 *   runs, through kernfs active references the model does not have);
 * - a group claim is never made on a group with a device another op removes,
 *   nor on one with a device whose driver probes late (deferred probe): a
 *   module claims a group it was handed (VFIO after its own probe), never
 *   one whose IOMMU probe is still being replayed by dma_configure().
 *
 * "Removes" covers the whole subtree below a hot-removed bridge or a
 * disabled slot, hot-pluggable devices (a rescan adds them, so they come and
 * go) and deleted platform devices. An op that breaks a rule moves to a
 * device where it is legal, or is dropped if there is none. A platform
 * device is deleted once, and only a platform device (device_unregister()
 * belongs to the bus code that registered the device; twice is the
 * caller's bug). A pciehp slot sees one removal event (its IRQ thread
 * handles events one at a time and coalesces a second link-down).
 *
 * No sysfs bind, unbind or reset names a device a rescan of the workload
 * adds. The kernel's really_probe() → dma_configure() replays the IOMMU
 * probe under iommu_probe_device_lock where firmware describes the device;
 * the model does not, so a bind racing the hot-add would see the device
 * half-probed (a group count taken without the group, a read of dev->iommu
 * while it is written) — the model's gap, not a question this workload
 * should ask.
 *
 * The machine is adjusted too: a driver that attaches a domain of its own
 * at probe does not boot on a device whose iommu group has other members.
 * The kernel adds every device of a bus (and so forms the groups) before it
 * binds drivers; the model probes each device as it adds it, so such a
 * driver would attach while the group still looks like a singleton. And a
 * driver that attaches PASIDs binds (at boot or by a sysfs bind) only to a
 * PASID-capable device alone in its group (topology-gen.ts PASID_DRIVERS).
 */

type Rule = 'held-by-driver' | 'referenced' | 'group-owned';

const RULE: Readonly<Record<string, Rule>> = {
  'driver.call': 'held-by-driver',
  'dma.map': 'held-by-driver',
  'module.call': 'referenced',
  'device.dma': 'referenced',
  'pci.try_reset_function': 'referenced',
  // a sysfs write to a device's own attribute holds a kernfs active reference that removal drains; the model has no kernfs
  'pci.reset_function': 'referenced',
  'iommu.group_claim': 'group-owned',
};

interface Churn {
  readonly removed: ReadonlySet<string>;
  readonly rebound: ReadonlySet<string>;
}

function churnOf(t: DocTopology, tasks: readonly DocTask[]): Churn {
  const pt = pciTopology({ units: [], pci: t.pci.map(({ id, ...rest }) => ({ ...rest, bdf: id })), drivers: [] });
  const removed = new Set<string>();
  const rebound = new Set<string>();
  const removeTree = (dev: string): void => {
    if (!pt.spec.has(dev)) {
      removed.add(dev);
      return;
    }
    for (const d of subtree(pt, dev)) removed.add(d);
  };
  for (const d of t.pci) if (d.hotplug === true) removeTree(d.id);
  for (const task of tasks) {
    for (const op of task.ops) {
      switch (op.op) {
        case 'pci.hot_remove':
        case 'device.del':
          removeTree(op.dev as string);
          break;
        case 'pci.surprise_remove':
        case 'pci.slot_disable':
          for (const d of t.pci) if (d.slot === op.slot) removeTree(d.id);
          break;
        case 'driver.bind':
        case 'driver.unbind':
          rebound.add(op.dev as string);
          break;
      }
    }
  }
  return { removed, rebound };
}

/** Sysfs writes about one device (its bind/unbind by device name, its reset file). */
const SYSFS_ON_DEVICE: readonly string[] = ['driver.bind', 'driver.unbind', 'pci.reset_function'];

/** The devices a rescan in the workload (re-)adds: each rescan target and what is below it. */
function hotAddedOf(t: DocTopology, tasks: readonly DocTask[]): ReadonlySet<string> {
  const pt = pciTopology({ units: [], pci: t.pci.map(({ id, ...rest }) => ({ ...rest, bdf: id })), drivers: [] });
  const out = new Set<string>();
  for (const task of tasks) for (const op of task.ops) if (op.op === 'pci.rescan' && pt.spec.has(op.dev as string)) for (const d of subtree(pt, op.dev as string)) out.add(d);
  return out;
}

/** The iommu group of every device, as the kernel forms it from this topology. */
function groupsOf(t: DocTopology): ReadonlyMap<string, readonly string[]> {
  const pt = pciTopology({ units: [], pci: t.pci.map(({ id, ...rest }) => ({ ...rest, bdf: id })), drivers: [] });
  const out = new Map<string, readonly string[]>(pciGroupPartition(pt));
  for (const d of t.devices) {
    out.set(d.id, d.group === undefined ? [d.id] : t.devices.filter((x) => x.group === d.group).map((x) => x.id));
  }
  return out;
}

/** The device an op of `RULE` acts on: its `dev`, or the `dev` of its actions. */
function targetOf(op: DocOp): string | null {
  if (typeof op.dev === 'string') return op.dev;
  const actions = op.actions as readonly DriverAction[] | undefined;
  return actions?.find((a) => a.dev !== undefined)?.dev ?? null;
}

function retarget(op: DocOp, dev: string): DocOp {
  if (op.op === 'module.call') {
    return { ...op, actions: (op.actions as readonly DriverAction[]).map((a) => (a.dev === undefined ? a : { ...a, dev })) };
  }
  return { ...op, dev };
}

/** The machine without private-domain drivers booting into groups of several devices. */
function legalMachine(t: DocTopology): DocTopology {
  const ok = driverFits(t);
  const strip = <D extends { readonly id: string; readonly driver?: string }>(d: D): D => {
    if (d.driver === undefined || ok(d.driver, d.id, true)) return d;
    const { driver: _gone, ...rest } = d;
    return rest as D;
  };
  return { ...t, pci: t.pci.map(strip), devices: t.devices.map(strip) };
}

/**
 * Where a driver may bind: a PASID driver on a PASID-capable device alone in
 * its group; a private-domain driver, at boot, on a device alone in its
 * group (a sysfs bind later finds the group complete and fails cleanly).
 */
function driverFits(t: DocTopology): (driver: string, dev: string, atBoot: boolean) => boolean {
  const groups = groupsOf(t);
  const alone = (id: string): boolean => (groups.get(id) ?? [id]).length === 1;
  const pasid = new Set([...t.pci, ...t.devices].filter((d) => (d.pasid_bits ?? 0) > 0).map((d) => d.id));
  return (driver, dev, atBoot) => {
    if (PASID_DRIVERS.includes(driver) && !(pasid.has(dev) && alone(dev))) return false;
    if (atBoot && PRIVATE_DOMAIN_DRIVERS.includes(driver) && !alone(dev)) return false;
    return true;
  };
}

/** The document with every kernel-code op on a device it may legally act on (see above). Ops with no such device are dropped. */
export function legalize(doc: FuzzDocument, r: Rand): FuzzDocument {
  const t = legalMachine(doc.topology);
  const { removed, rebound } = churnOf(t, doc.tasks);
  const groups = groupsOf(t);
  const m = viewOf(t);
  const all = [...m.pci, ...m.platform];
  // drivers whose work items use the DMA API: not pcieport, not the driver_managed_dma ones (vfio-pci, pci-stub, ...)
  const dmaApiDrivers = new Set(t.drivers.filter((d) => d.name !== 'pcieport' && d.driver_managed_dma !== true).map((d) => d.name));
  // devices whose driver's probe is deferred past boot: it runs beside the workload, and its dma_configure() may
  // replay the IOMMU probe (of_iommu_configure), which sets and on failure clears dev->iommu_group
  const deferredDrivers = new Set(t.drivers.filter((d) => (d.defer ?? 0) > 0).map((d) => d.name));
  const probedLate = (dev: string): boolean => deferredDrivers.has(m.bootDriver.get(dev) ?? '');
  const okFor = (rule: Rule, dev: string): boolean => {
    switch (rule) {
      case 'held-by-driver':
        return !removed.has(dev) && !rebound.has(dev) && dmaApiDrivers.has(m.bootDriver.get(dev) ?? '');
      case 'referenced':
        return !removed.has(dev);
      case 'group-owned':
        return !(groups.get(dev) ?? [dev]).some((d) => removed.has(d) || probedLate(d));
    }
  };
  const fits = driverFits(t);
  const hotAdded = hotAddedOf(t, doc.tasks);
  const tasks: DocTask[] = [];
  const deleted = new Set<string>();
  const slotEvents = new Set<string>();
  for (const task of doc.tasks) {
    const ops: DocOp[] = [];
    for (const op of task.ops) {
      if (SYSFS_ON_DEVICE.includes(op.op) && hotAdded.has(op.dev as string)) {
        // a reset moves to a device that stays; a bind or unbind (whose driver fits its device) is dropped
        const others = op.op === 'pci.reset_function' ? m.pci.filter((d) => !hotAdded.has(d) && !removed.has(d)) : [];
        if (others.length > 0) ops.push({ ...op, dev: r.pick(others) });
        continue;
      }
      if (op.op === 'driver.bind' && !fits(op.driver as string, op.dev as string, false)) {
        const others = (m.platform.includes(op.dev as string) ? m.platformDrivers : m.pciDrivers).filter((d) => fits(d, op.dev as string, false));
        if (others.length > 0) ops.push({ ...op, driver: r.pick(others) });
        continue;
      }
      if (op.op === 'pci.surprise_remove' || op.op === 'pci.slot_disable') {
        // one pciehp IRQ thread per slot handles its events one at a time: a second removal event of the slot is coalesced
        if (slotEvents.has(op.slot as string)) continue;
        slotEvents.add(op.slot as string);
      }
      if (op.op === 'device.del') {
        // device_unregister() is for the bus that made the device: here the platform code, once per device
        if (!m.platform.includes(op.dev as string) || deleted.has(op.dev as string)) continue;
        deleted.add(op.dev as string);
      }
      const rule = RULE[op.op];
      const dev = rule === undefined ? null : targetOf(op);
      if (rule === undefined || dev === null || okFor(rule, dev)) {
        ops.push(op);
        continue;
      }
      const candidates = all.filter((d) => okFor(rule, d) && (!op.op.startsWith('pci.') || m.pci.includes(d)));
      if (candidates.length > 0) ops.push(retarget(op, r.pick(candidates)));
    }
    if (ops.length > 0) tasks.push({ ...task, ops });
  }
  if (tasks.length === 0) tasks.push({ name: 't0', ops: [{ op: 'iommu.domain_alloc', bus: 'pci' }] });
  return { ...doc, topology: t, tasks };
}
