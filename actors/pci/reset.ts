import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { DRIVER_CORE, IOMMU_CORE } from '../../protocol/kernel.ts';
import { deviceLock, nested, pciCfgAccessLock } from '../../protocol/lock-classes.ts';
import type { PciResetMethod } from '../../protocol/topology.ts';
import { pciehpResetSlot } from './hotplug.ts';
import { devOf, presentOf } from './state.ts';
import type { K, PciDev } from './state.ts';
import { busPeers, isMultifunction, resetMethods, specOf, upstreamBridge } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Function resets (drivers/pci/pci.c; docs/kernel-facts.md §3.6).
 *
 * Locking: pci_dev_lock() = device_lock then pci_cfg_access_lock.
 * pci_reset_function() locks the upstream bridge first, then the device. The
 * kernel never validates device_lock (novalidate class) and
 * pci_cfg_access_lock is a flag, not a lockdep lock; iommu-lab validates
 * both, so the device's pair is taken at nesting subclass 1 below its
 * bridge's pair (subclass 0), the parent → child order of §1.2 edge 3.
 */

type Ret = 0 | Errno;

const ENOTTY = errno('ENOTTY');
const isEnotty = (r: Ret): boolean => r !== 0 && r.errno === 'ENOTTY';

/** pci_dev_lock(). */
const pciDevLock = kfunc('pci_dev_lock', { actor: 'pci', source: 'drivers/pci/pci.c: pci_dev_lock' }, async function pciDevLock(k: K, dev: string, sub: number): Promise<void> {
  await k.lock(deviceLock(dev, sub));
  await k.lock(nested(pciCfgAccessLock(dev), sub));
});

/** pci_dev_unlock(). */
const pciDevUnlock = kfunc('pci_dev_unlock', { actor: 'pci', source: 'drivers/pci/pci.c: pci_dev_unlock' }, async function pciDevUnlock(k: K, dev: string, sub: number): Promise<void> {
  await k.unlock(nested(pciCfgAccessLock(dev), sub));
  await k.unlock(deviceLock(dev, sub));
});

/** pci_dev_trylock(): both or neither. A task that already holds the device_lock fails like any other. */
const pciDevTrylock = kfunc('pci_dev_trylock', { actor: 'pci', source: 'drivers/pci/pci.c: pci_dev_trylock' }, async function pciDevTrylock(k: K, dev: string): Promise<boolean> {
  if (await k.trylock(deviceLock(dev))) {
    if (await k.trylock(pciCfgAccessLock(dev))) return true;
    await k.unlock(deviceLock(dev));
  }
  return false;
});

/**
 * The reset methods' calls of pci_dev_reset_iommu_prepare()/done(), which
 * live in drivers/iommu/iommu.c (the iommu-core actor declares them): not
 * kernel functions of their own, so no frame here (a second one would print
 * the function twice in every backtrace). An error of prepare fails the
 * reset method ("failed to stop IOMMU for a PCI reset").
 */
async function iommuPrepare(k: K, dev: string): Promise<Ret> {
  const r = await k.call<unknown>(IOMMU_CORE, 'pci_dev_reset_iommu_prepare', { dev });
  return isErrno(r) ? r : 0;
}

async function iommuDone(k: K, dev: string): Promise<void> {
  await k.call(IOMMU_CORE, 'pci_dev_reset_iommu_done', { dev });
}

/**
 * pci_dev_save_and_disable() / pci_dev_restore(): the bound driver's
 * err_handler->reset_prepare() before the reset and ->reset_done() after,
 * with device_lock held ("protected against races with ->remove() by the
 * device lock, which must be held by the caller"); the config-space save,
 * INTx disable and restore in between are not modelled.
 */
const pciDevSaveAndDisable = kfunc('pci_dev_save_and_disable', { actor: 'pci', source: 'drivers/pci/pci.c: pci_dev_save_and_disable' }, async function pciDevSaveAndDisable(k: K, dev: string): Promise<void> {
  await k.call(DRIVER_CORE, 'pci_err_handler_reset', { dev, which: 'reset_prepare' });
});

const pciDevRestore = kfunc('pci_dev_restore', { actor: 'pci', source: 'drivers/pci/pci.c: pci_dev_restore' }, async function pciDevRestore(k: K, dev: string): Promise<void> {
  await k.call(DRIVER_CORE, 'pci_err_handler_reset', { dev, which: 'reset_done' });
});

/**
 * pci_bridge_secondary_bus_reset(bridge) (drivers/pci/pci.c, since
 * "PCI: Revert the cfg_access_lock lockdep mechanism"): `if
 * (!dev->block_cfg_access) pci_warn_once(dev, "unlocked secondary bus reset
 * via: %pS\n", ...)`. block_cfg_access is set while anyone holds the
 * bridge's pci_cfg_access_lock (pci_dev_lock of the bridge: pci_reset_function
 * and vfio_pci_core_disable take it, pci_try_reset_function and
 * pci_reset_function_locked do not). The kernel prints once per device; the
 * model reports each occurrence as a kernel-warn.
 */
const pciBridgeSecondaryBusReset = kfunc('pci_bridge_secondary_bus_reset', { actor: 'pci', source: 'drivers/pci/pci.c: pci_bridge_secondary_bus_reset' }, async function pciBridgeSecondaryBusReset(k: K, bridge: string | null, via: string): Promise<void> {
  if (bridge === null) return;
  if (!(await k.isLocked(pciCfgAccessLock(bridge)))) k.warn(`pci ${bridge}: unlocked secondary bus reset via: ${via}`);
});

/** The reset itself (config writes, the 100 ms wait): one preemption point with in_reset set. */
async function resetWindow(k: K, pd: PciDev): Promise<void> {
  k.write(pd, 'in_reset', true, { guard: deviceLock(pd.bdf) });
  await k.yield();
  k.write(pd, 'in_reset', false, { guard: deviceLock(pd.bdf) });
}

/**
 * pcie_flr() / pci_pm_reset(): prepare the IOMMU (after waiting for pending
 * transactions), reset, done. The capability probes are not modelled: a
 * method listed in reset_methods is supported.
 */
const functionReset = kfunc('pcie_flr', { actor: 'pci', source: 'drivers/pci/pci.c: pcie_flr' }, async function functionReset(k: K, pd: PciDev): Promise<Ret> {
  const r = await iommuPrepare(k, pd.bdf);
  if (r !== 0) return r;
  await resetWindow(k, pd);
  await iommuDone(k, pd.bdf);
  return 0;
});

/**
 * pci_dev_reset_slot_function(): a device that is neither multi-function
 * nor a bridge and sits in a hotplug slot is reset through the slot
 * (pci_reset_hotplug_slot → pciehp_reset_slot).
 */
const slotFunctionReset = kfunc('pci_dev_reset_slot_function', { actor: 'pci', source: 'drivers/pci/pci.c: pci_dev_reset_slot_function' }, async function slotFunctionReset(k: K, pd: PciDev): Promise<Ret> {
  const pt = k.state.topo;
  const s = specOf(pt, pd.bdf);
  if (s?.slot === undefined || s.bridge === true || isMultifunction(pt, pd.bdf)) return ENOTTY;
  return pciehpResetSlot(k, s.slot, async () => {
    // pciehp_reset_slot() → pci_bridge_secondary_bus_reset(ctrl->pcie->port)
    await pciBridgeSecondaryBusReset(k, upstreamBridge(pt, pd.bdf), 'pciehp_reset_slot');
    await resetWindow(k, pd);
  });
});

/**
 * pci_parent_bus_reset(): a secondary bus reset of the upstream bridge, only
 * for a non-bridge that is alone on a non-root bus. The kernel walks
 * dev->bus->devices here without a lock; the model looks at the static
 * topology instead (whether a sibling is currently present is ignored).
 */
const parentBusReset = kfunc('pci_parent_bus_reset', { actor: 'pci', source: 'drivers/pci/pci.c: pci_parent_bus_reset' }, async function parentBusReset(k: K, pd: PciDev): Promise<Ret> {
  const pt = k.state.topo;
  const bridge = upstreamBridge(pt, pd.bdf);
  if (bridge === null || specOf(pt, pd.bdf)?.bridge === true || busPeers(pt, pd.bdf).length > 0) return ENOTTY;
  await pciBridgeSecondaryBusReset(k, bridge, 'pci_parent_bus_reset');
  await resetWindow(k, pd);
  return 0;
});

/**
 * pci_reset_bus_function(): prepare first (before anything else, as 7.0 does
 * even when only probing), the slot reset, else the parent bus reset, then
 * done — also when neither applies (-ENOTTY goes to the next method).
 */
const pciResetBusFunction = kfunc('pci_reset_bus_function', { actor: 'pci', source: 'drivers/pci/pci.c: pci_reset_bus_function' }, async function pciResetBusFunction(k: K, pd: PciDev): Promise<Ret> {
  const r = await iommuPrepare(k, pd.bdf);
  if (r !== 0) return r;
  let rc = await slotFunctionReset(k, pd);
  if (isEnotty(rc)) rc = await parentBusReset(k, pd);
  await iommuDone(k, pd.bdf);
  return rc;
});

/**
 * cxl_reset_bus_function(): needs an upstream CXL port (any upstream bridge
 * counts: listing the method says the port has the CXL DVSEC); prepare,
 * unmask SBR, pci_reset_bus_function() — which prepares again: the nesting
 * of seed 003 / bug B8 (`reset-nesting` variant decides what the inner
 * prepare returns) — then done.
 */
const cxlResetBusFunction = kfunc('cxl_reset_bus_function', { actor: 'pci', source: 'drivers/pci/pci.c: cxl_reset_bus_function' }, async function cxlResetBusFunction(k: K, pd: PciDev): Promise<Ret> {
  if (upstreamBridge(k.state.topo, pd.bdf) === null) return ENOTTY;
  const r = await iommuPrepare(k, pd.bdf);
  if (r !== 0) return r;
  const rc = await pciResetBusFunction(k, pd);
  await iommuDone(k, pd.bdf);
  return rc;
});

function resetMethod(k: K, pd: PciDev, m: PciResetMethod): Promise<Ret> {
  switch (m) {
    case 'flr':
    case 'pm':
      return functionReset(k, pd);
    case 'bus':
      return pciResetBusFunction(k, pd);
    case 'cxl_bus':
      return cxlResetBusFunction(k, pd);
  }
}

/**
 * __pci_reset_function_locked(): the caller holds device_lock (asserted on
 * the plain device_lock reference; a nested hold is the same lock). Walks
 * dev->reset_methods[]: -ENOTTY means "try the next", 0 or any other error
 * ends the walk; no method left is -ENOTTY.
 */
const pciResetFunctionLockedInner = kfunc('__pci_reset_function_locked', { actor: 'pci', source: 'drivers/pci/pci.c: __pci_reset_function_locked' }, async function pciResetFunctionLockedInner(k: K, pd: PciDev): Promise<Ret> {
  await k.assertHeld(deviceLock(pd.bdf));
  for (const m of resetMethods(k.state.topo, pd.bdf)) {
    const rc = await resetMethod(k, pd, m);
    if (!isEnotty(rc)) return rc;
  }
  return ENOTTY;
});

/**
 * The device a sysfs `reset` or a driver names must exist: a device that is
 * not on its bus list (never scanned, or removed) has no sysfs file and no
 * driver, so -ENODEV, decided before any lock is taken.
 */
async function lookup(k: K, dev: string): Promise<PciDev | undefined> {
  const pd = devOf(k, dev);
  return pd !== undefined && (await presentOf(k, [dev])).has(dev) ? pd : undefined;
}

/** pci_reset_supported(): dev->reset_methods[0] != 0. */
const resetSupported = (k: K, dev: string): boolean => resetMethods(k.state.topo, dev).length > 0;

/**
 * pci_reset_function(): -ENOTTY without a reset method (before locking),
 * then pci_dev_lock(bridge) if there is one, pci_dev_lock(dev), the reset,
 * unlock in reverse. -ENODEV for a device that is not there (lookup).
 */
export const pciResetFunction = kfunc('pci_reset_function', { actor: 'pci', source: 'drivers/pci/pci.c: pci_reset_function' }, async function pciResetFunction(k: K, dev: string): Promise<Ret> {
  const pd = await lookup(k, dev);
  if (pd === undefined) return errno('ENODEV');
  if (!resetSupported(k, dev)) return ENOTTY;
  const bridge = upstreamBridge(k.state.topo, dev);
  const sub = bridge === null ? 0 : 1;
  if (bridge !== null) await pciDevLock(k, bridge, 0);
  await pciDevLock(k, dev, sub);
  await pciDevSaveAndDisable(k, dev);
  const rc = await pciResetFunctionLockedInner(k, pd);
  await pciDevRestore(k, dev);
  await pciDevUnlock(k, dev, sub);
  if (bridge !== null) await pciDevUnlock(k, bridge, 0);
  return rc;
});

/** pci_try_reset_function(): pci_dev_trylock() of the device only; -EAGAIN when either lock is taken. */
export const pciTryResetFunction = kfunc('pci_try_reset_function', { actor: 'pci', source: 'drivers/pci/pci.c: pci_try_reset_function' }, async function pciTryResetFunction(k: K, dev: string): Promise<Ret> {
  const pd = await lookup(k, dev);
  if (pd === undefined) return errno('ENODEV');
  if (!resetSupported(k, dev)) return ENOTTY;
  if (!(await pciDevTrylock(k, dev))) return errno('EAGAIN');
  await pciDevSaveAndDisable(k, dev);
  const rc = await pciResetFunctionLockedInner(k, pd);
  await pciDevRestore(k, dev);
  await pciDevUnlock(k, dev, 0);
  return rc;
});

/** pci_reset_function_locked(): the caller (a probe, vfio-pci's disable path) holds device_lock. */
export const pciResetFunctionLocked = kfunc('pci_reset_function_locked', { actor: 'pci', source: 'drivers/pci/pci.c: pci_reset_function_locked' }, async function pciResetFunctionLocked(k: K, dev: string): Promise<Ret> {
  const pd = devOf(k, dev);
  if (pd === undefined) return errno('ENODEV');
  if (!resetSupported(k, dev)) return ENOTTY;
  await pciDevSaveAndDisable(k, dev);
  const rc = await pciResetFunctionLockedInner(k, pd);
  await pciDevRestore(k, dev);
  return rc;
});
