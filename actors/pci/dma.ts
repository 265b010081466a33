import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { DriverSnapshot } from '../../protocol/driver-core.ts';
import { DRIVER_CORE, IOMMU_CORE } from '../../protocol/kernel.ts';
import { devOf } from './state.ts';
import type { K } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The PCI bus DMA hooks (drivers/pci/pci-driver.c) the driver core calls
 * from really_probe() and __device_release_driver(), and that
 * iommu_init_device() calls without device_lock (its dma_configure window).
 * The OF/IORT half (of_dma_configure → of_iommu_configure, with its probe
 * replay) runs for devices behind a firmware-described unit (SMMUv3).
 */

/**
 * pci_dma_configure(): dev->driver is read once (READ_ONCE, the B5 fix
 * "PCI: Fix driver_managed_dma check") and every decision is derived from
 * that snapshot. "@drv may not be valid when we're called from the IOMMU
 * layer": with no driver there is nothing to account. A driver without
 * driver_managed_dma claims the default domain
 * (iommu_device_use_default_domain: device_lock → group->mutex, §1.2 edge 7).
 */
export const pciDmaConfigure = kfunc('pci_dma_configure', { actor: 'pci', source: 'drivers/pci/pci-driver.c: pci_dma_configure' }, async function pciDmaConfigure(k: K, dev: string): Promise<unknown> {
  if (devOf(k, dev) === undefined) return errno('ENODEV');
  const drv = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev });
  // of_dma_configure(dev, bridge->parent->of_node) / acpi_dma_configure() (IORT): the firmware IOMMU set-up, with its replay
  if (k.state.fwIommu.has(dev)) {
    const ret = await k.call<unknown>(IOMMU_CORE, 'of_iommu_configure', { dev });
    if (isErrno(ret)) return ret;
  }
  const use = await driverManagedDmaCheck(k, dev, drv);
  if (!use) return 0;
  return k.call(IOMMU_CORE, 'iommu_device_use_default_domain', { dev });
});

/**
 * `!ret && drv && !to_pci_driver(drv)->driver_managed_dma`: whether the
 * device's driver claims the default domain. `first` is the dev->driver
 * the hook read on entry. Variant dma-configure-driver: `read-once` (the
 * B5 fix, 78447d4545b2) decides from that snapshot alone; `double-read`
 * (before it) computed `driver = to_pci_driver(dev->driver)` on entry and
 * tested `dev->driver` again here: when really_probe() (device_lock) set
 * dev->driver in between — the IOMMU probe path calls the hook without
 * device_lock — the test passes and the bogus pointer computed from NULL
 * is dereferenced.
 */
async function driverManagedDmaCheck(k: K, dev: string, first: DriverSnapshot): Promise<boolean> {
  if (k.state.variants['dma-configure-driver'] === 'double-read') {
    // of_dma_configure() / acpi_dma_configure() ran between the two reads (acpi_iommu_configure_id() takes
    // and drops iommu_probe_device_lock): a preemption point the snapshot of the fix does not care about
    await k.yield();
    const again = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev });
    if (again.driver !== null && first.driver === null) {
      k.bug(`BUG: unable to handle page fault for address: fffffffffffffff0 in pci_dma_configure (${dev}): to_pci_driver(NULL)->driver_managed_dma, dev->driver became ${again.driver} after it was read`);
    }
    return again.driver !== null && !first.driver_managed_dma;
  }
  return first.driver !== null && !first.driver_managed_dma;
}

/**
 * pci_dma_cleanup(): to_pci_driver(dev->driver)->driver_managed_dma, then
 * iommu_device_unuse_default_domain(). The driver core calls it while
 * dev->driver is still set (before device_unbind_cleanup); a NULL driver
 * here is a NULL dereference in the kernel, reported as a WARN.
 */
export const pciDmaCleanup = kfunc('pci_dma_cleanup', { actor: 'pci', source: 'drivers/pci/pci-driver.c: pci_dma_cleanup' }, async function pciDmaCleanup(k: K, dev: string): Promise<0 | Errno> {
  if (devOf(k, dev) === undefined) return errno('ENODEV');
  const drv = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev });
  if (drv.driver === null) {
    k.warn(`pci_dma_cleanup: ${dev} has no driver (to_pci_driver(NULL) dereferenced)`);
    return 0;
  }
  if (!drv.driver_managed_dma) await k.call(IOMMU_CORE, 'iommu_device_unuse_default_domain', { dev });
  return 0;
});

/** pci_dev_is_disconnected(): READ_ONCE(dev->error_state) == pci_channel_io_perm_failure. */
export const pciDevIsDisconnected = kfunc('pci_dev_is_disconnected', { actor: 'pci', source: 'include/linux/pci.h: pci_dev_is_disconnected' }, function pciDevIsDisconnected(k: K, dev: string): boolean {
  const pd = devOf(k, dev);
  return pd !== undefined && k.read(pd, 'disconnected', { lockless: true });
});
