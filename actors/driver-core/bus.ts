import { actorId } from '../../protocol/ids.ts';
import { isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { BusNotifyAction } from '../../protocol/iommu-core.ts';
import { IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import { LOCKLESS, getDevice, klistLock, putDevice, underDevice, unitOfDevice } from './state.ts';
import type { BusName, DK, Device, KlistEntry } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The bus side of the driver core (drivers/base/bus.c, lib/klist.c,
 * drivers/base/platform.c): the klist_devices of each bus, the iterator
 * over it, the bus notifier chain and the bus DMA hooks.
 */

// ---- klist_devices ------------------------------------------------------------------

/** bus_add_device(): klist_add_tail(&dev->p->knode_bus, &sp->klist_devices); the klist's get is klist_devices_get = get_device. */
export const klistAddDevice = kfunc('klist_add_tail', { actor: 'driver-core', source: 'lib/klist.c: klist_add_tail' }, async function klistAddDevice(k: DK, dev: Device): Promise<void> {
  const bus = k.state.buses[dev.bus];
  const guard = { guard: klistLock(dev.bus) };
  await k.lock(guard.guard);
  getDevice(k, dev);
  const entry: KlistEntry = { dev: dev.name, seq: k.state.klistSeq++ };
  k.listAdd(bus, 'klist_devices', entry, guard);
  await k.unlock(guard.guard);
});

/**
 * bus_remove_device(): `if (klist_node_attached(&dev->p->knode_bus))
 * klist_del(&dev->p->knode_bus)`: the node leaves the list under k_lock and
 * the list's reference is dropped (klist_devices_put) after it.
 */
export const klistDelDevice = kfunc('klist_del', { actor: 'driver-core', source: 'lib/klist.c: klist_del' }, async function klistDelDevice(k: DK, dev: Device): Promise<void> {
  const bus = k.state.buses[dev.bus];
  const guard = { guard: klistLock(dev.bus) };
  await k.lock(guard.guard);
  // klist_node_attached(): the device's node (the model finds it by name: a device has one node per bus)
  const node = k.read(bus, 'klist_devices', guard).find((e) => e.dev === dev.name);
  const attached = node !== undefined && k.listDel(bus, 'klist_devices', node, guard);
  await k.unlock(guard.guard);
  if (attached) await putDevice(k, dev);
});

/**
 * One klist_next() step: under k_lock, the first live node after the one
 * the iterator stands on (nodes deleted meanwhile are simply gone, the
 * iterator goes on from its position), pinned with a device reference.
 */
const klistNext = kfunc('klist_next', { actor: 'driver-core', source: 'lib/klist.c: klist_next' }, async function klistNext(k: DK, bus: BusName, after: number): Promise<{ readonly dev: Device; readonly seq: number } | null> {
  const guard = { guard: klistLock(bus) };
  await k.lock(guard.guard);
  const next = firstAfter(k.read(k.state.buses[bus], 'klist_devices', guard), after);
  const dev = next === undefined ? undefined : k.state.devices[next.dev];
  if (dev !== undefined) getDevice(k, dev);
  await k.unlock(guard.guard);
  return next === undefined || dev === undefined ? null : { dev, seq: next.seq };
});

/**
 * The first node whose sequence number is above `after`: the node after the
 * iterator's position. The list is in sequence order (klist_add_tail gives
 * each node the next number; klist_del keeps the order), so a binary search
 * finds it: the walk costs what the kernel's does per step, not a scan from
 * the head.
 */
function firstAfter(list: readonly KlistEntry[], after: number): KlistEntry | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as KlistEntry).seq > after) hi = mid;
    else lo = mid + 1;
  }
  return list[lo];
}

/**
 * bus_for_each_dev() (drivers/base/bus.c): the callback runs with no lock
 * held and only the iterator's temporary reference on the device, which is
 * dropped when the iterator moves on (or stops). Returns the first callback
 * result that is neither 0 nor null, else 0.
 */
export const busForEachDev = kfunc('bus_for_each_dev', { actor: 'driver-core', source: 'drivers/base/bus.c: bus_for_each_dev' }, async function busForEachDev(k: DK, bus: BusName, fn: Call): Promise<unknown> {
  let at = -1;
  for (;;) {
    const cur = await klistNext(k, bus, at);
    if (cur === null) return 0;
    at = cur.seq;
    const body = typeof fn.body === 'object' && fn.body !== null ? fn.body : {};
    const ret = await k.call(actorId(fn.to), fn.op, { ...body, dev: cur.dev.name });
    await putDevice(k, cur.dev); // klist_devices_put: the last put releases the device
    if (!isZero(ret)) return ret;
  }
});

/** A callback's "0": the int 0, and what a JS handler returns for nothing (null, undefined, false). */
const isZero = (v: unknown): boolean => v === 0 || v === null || v === undefined || v === false;

/**
 * bus_find_device_by_name(): a device on `bus`'s klist with that name,
 * returned with a reference the caller drops with put_device(); null if
 * there is none (not added yet, or already deleted from the bus).
 */
export const busFindDeviceByName = kfunc('bus_find_device_by_name', { actor: 'driver-core', source: 'drivers/base/bus.c: bus_find_device_by_name' }, async function busFindDeviceByName(k: DK, bus: BusName, name: string): Promise<Device | null> {
  const guard = { guard: klistLock(bus) };
  await k.lock(guard.guard);
  const found = k.read(k.state.buses[bus], 'klist_devices', guard).some((e) => e.dev === name);
  const dev = found ? k.state.devices[name] : undefined;
  if (dev !== undefined) getDevice(k, dev);
  await k.unlock(guard.guard);
  return dev ?? null;
});

// ---- the bus notifier chain -------------------------------------------------------------

/**
 * bus_notify(dev, action): blocking_notifier_call_chain on the bus's
 * notifier. The only notifier the model registers is iommu_bus_notifier
 * (drivers/iommu/iommu.c, on every bus in iommu_buses[]); the driver core
 * ignores what notifiers return.
 */
export const busNotify = kfunc('bus_notify', { actor: 'driver-core', source: 'drivers/iommu/iommu.c: bus_notify' }, async function busNotify(k: DK, dev: Device, action: BusNotifyAction): Promise<void> {
  await k.call(IOMMU_CORE, 'iommu_bus_notifier', { action, dev: dev.name });
});

// ---- bus DMA hooks (really_probe step 4, __device_release_driver) --------------------------

/**
 * dev->bus->dma_configure(dev), called by really_probe() with device_lock
 * held after device_set_driver(). PCI: pci_dma_configure() in the pci actor.
 * Platform: platform_dma_configure() (drivers/base/platform.c), here.
 */
export const busDmaConfigure = kfunc('pci_dma_configure_bus', { actor: 'driver-core', source: 'drivers/base/platform.c: pci_dma_configure_bus' }, async function busDmaConfigure(k: DK, dev: Device): Promise<0 | Errno> {
  const ret = dev.bus === 'pci'
    ? await k.call(PCI, 'pci_dma_configure', { dev: dev.name })
    : await platformDmaConfigure(k, dev);
  return isErrno(ret) ? ret : 0;
});

/** dev->bus->dma_cleanup(dev): undoes dma_configure (on probe failure after it succeeded, and at unbind). */
export const busDmaCleanup = kfunc('pci_dma_cleanup_bus', { actor: 'driver-core', source: 'drivers/base/bus.c: pci_dma_cleanup_bus' }, async function busDmaCleanup(k: DK, dev: Device): Promise<void> {
  if (dev.bus === 'pci') await k.call(PCI, 'pci_dma_cleanup', { dev: dev.name });
  else await platformDmaCleanup(k, dev);
});

/**
 * drivers/base/platform.c: platform_dma_configure(). dev->driver is read
 * once (READ_ONCE) and every decision derives from that snapshot, because
 * the IOMMU layer may call the hook without device_lock while
 * really_probe() is setting the driver (bug B5's platform half).
 */
const platformDmaConfigure = kfunc('platform_dma_configure', { actor: 'driver-core', source: 'drivers/base/platform.c: platform_dma_configure' }, async function platformDmaConfigure(k: DK, dev: Device): Promise<0 | Errno> {
  const name = k.read(dev, 'driver', LOCKLESS);
  // of_dma_configure(): of_iommu_configure() for a device behind a DT-described IOMMU (SMMUv3)
  const unit = unitOfDevice(k.state.topology, dev.name);
  if (unit !== null && k.state.topology.units.find((u) => u.name === unit)?.kind === 'smmu-v3') {
    const ret = await k.call(IOMMU_CORE, 'of_iommu_configure', { dev: dev.name });
    if (isErrno(ret)) return ret;
  }
  let drv = name === null ? undefined : k.state.drivers[name];
  if (k.state.variants['dma-configure-driver'] === 'double-read') {
    // before the B5 fix: `drv = to_platform_driver(dev->driver)` on entry, `dev->driver` tested again here
    const again = k.read(dev, 'driver', LOCKLESS);
    if (again !== null && name === null) {
      k.bug(`BUG: unable to handle page fault for address: fffffffffffffff0 in platform_dma_configure (${dev.name}): to_platform_driver(NULL)->driver_managed_dma, dev->driver became ${again} after it was read`);
    }
    if (again === null) drv = undefined;
  }
  // "@dev->driver may not be valid when we're called from the IOMMU layer"
  if (drv === undefined || drv.spec.driver_managed_dma === true) return 0;
  const ret = await k.call(IOMMU_CORE, 'iommu_device_use_default_domain', { dev: dev.name });
  return isErrno(ret) ? ret : 0;
});

/** drivers/base/platform.c: platform_dma_cleanup(): to_platform_driver(dev->driver), under device_lock. */
const platformDmaCleanup = kfunc('platform_dma_cleanup', { actor: 'driver-core', source: 'drivers/base/platform.c: platform_dma_cleanup' }, async function platformDmaCleanup(k: DK, dev: Device): Promise<void> {
  const name = k.read(dev, 'driver', underDevice(dev));
  const drv = name === null ? undefined : k.state.drivers[name];
  if (drv === undefined) {
    // the kernel would dereference a NULL dev->driver here
    k.warn(`platform_dma_cleanup: ${dev.name} has no driver`);
    return;
  }
  if (drv.spec.driver_managed_dma !== true) await k.call(IOMMU_CORE, 'iommu_device_unuse_default_domain', { dev: dev.name });
});
