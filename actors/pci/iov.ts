import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { DriverSnapshot } from '../../protocol/driver-core.ts';
import { DRIVER_CORE } from '../../protocol/kernel.ts';
import { deviceLock, pciCfgAccessLock, pciRescanRemoveLock } from '../../protocol/lock-classes.ts';
import { pciDeviceAdd, pciStopAndRemoveBusDevice } from './probe.ts';
import { devOf, presentOf } from './state.ts';
import type { K, PciDev } from './state.ts';
import { specOf } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * SR-IOV (drivers/pci/iov.c, 7.0). A PF's capability is the topology's
 * `sriov` (total_VFs); its VFs are derived PCI devices (protocol/topology.ts
 * withVirtfns) that only sriov_enable() adds and sriov_disable() removes.
 *
 *   sriov_numvfs_store()                      (a write to .../sriov_numvfs)
 *     device_lock(PF)
 *     pci_lock_rescan_remove()                (a5338e365c45, in 7.0)
 *     PF driver ->sriov_configure(pdev, n)    (pci_sriov_configure_simple)
 *       pci_enable_sriov → sriov_enable → sriov_add_vfs → pci_iov_add_virtfn
 *         pci_device_add + pci_bus_add_device → device_attach(VF):
 *           device_lock(VF) nested in device_lock(PF)
 *       pci_disable_sriov → sriov_disable → sriov_del_vfs → pci_iov_remove_virtfn
 *         pci_stop_and_remove_bus_device(VF): device_release_driver(VF), device_del
 *     pci_unlock_rescan_remove(); device_unlock(PF)
 *
 * The VF's device_lock: the driver core takes it with the nesting subclass
 * 1 (actors/driver-core/state.ts DL), so the PF → VF nesting is
 * device_lock → device_lock/1, which lockdep does not report as recursive
 * locking — the annotation parent/child device locking uses
 * (docs/kernel-facts.md §1.2 edge 3). The kernel's lockdep does not validate
 * device_lock at all (novalidate class); the model does (docs/kernel-model.md).
 *
 * a5338e365c45 ("PCI/IOV: Fix race between SR-IOV enable/disable and
 * hotplug") takes pci_rescan_remove_lock inside device_lock(PF): the reverse
 * of pci_stop_and_remove_bus_device()'s pci_rescan_remove_lock → device_lock
 * (§1.2 edge 2). A sysfs remove of the PF racing a write to sriov_numvfs is
 * the AB-BA reported against it (Guenter Roeck, Benjamin Block, 2026-03;
 * fuzz/known.ts sriov-numvfs-rescan-lock).
 */

type Ret = 0 | Errno;

/** pdev->sriov->num_VFs of a PF, under the PF's device_lock. */
const numVfsGuard = (pf: string): { readonly guard: ReturnType<typeof deviceLock> } => ({ guard: deviceLock(pf) });

/** The VF BDFs of `pf` in VF order (the derived devices of withVirtfns). */
export function virtfns(k: K, pf: string): readonly string[] {
  return k.state.topo.order.filter((d) => specOf(k.state.topo, d)?.physfn === pf)
    .sort((a, b) => (specOf(k.state.topo, a)?.vf_id ?? 0) - (specOf(k.state.topo, b)?.vf_id ?? 0));
}

/**
 * pci_iov_add_virtfn(): the VF's pci_dev on the PF's bus (virtfn_add_bus),
 * pci_device_add() and pci_bus_add_device(): device_add → the IOMMU probe
 * (its own group per ACS, pci_device_group) → the driver match and probe
 * (device_attach) with the VF's device_lock nested inside the PF's.
 */
export const pciIovAddVirtfn = kfunc('pci_iov_add_virtfn', { actor: 'pci', source: 'drivers/pci/iov.c: pci_iov_add_virtfn' }, async function pciIovAddVirtfn(k: K, pf: string, id: number): Promise<Ret> {
  const vf = virtfns(k, pf)[id];
  if (vf === undefined) return errno('ENOMEM');
  await pciDeviceAdd(k, vf);
  return (await presentOf(k, [vf])).has(vf) ? 0 : errno('ENODEV');
});

/**
 * pci_iov_remove_virtfn(): pci_stop_and_remove_bus_device(VF) — its
 * driver released under the VF's device_lock (nested in the PF's), then
 * device_del → iommu_release_device. The caller holds pci_rescan_remove_lock
 * (sriov_numvfs_store in 7.0; asserted by pci_stop_and_remove_bus_device).
 */
export const pciIovRemoveVirtfn = kfunc('pci_iov_remove_virtfn', { actor: 'pci', source: 'drivers/pci/iov.c: pci_iov_remove_virtfn' }, async function pciIovRemoveVirtfn(k: K, pf: string, id: number): Promise<void> {
  const vf = virtfns(k, pf)[id];
  if (vf === undefined) return;
  if (!(await presentOf(k, [vf])).has(vf)) return;
  await pciStopAndRemoveBusDevice(k, vf);
});

/**
 * sriov_enable(): -EINVAL when VFs are already enabled or nr_virtfn exceeds
 * total_VFs; VF Enable is set in the capability with config access blocked
 * (pci_cfg_access_lock, §1.2 edge 4), num_VFs recorded, then sriov_add_vfs()
 * adds VF 0..n-1; a failure removes the ones added (in reverse) and clears
 * num_VFs.
 */
export const sriovEnable = kfunc('sriov_enable', { actor: 'pci', source: 'drivers/pci/iov.c: sriov_enable' }, async function sriovEnable(k: K, pd: PciDev, nr: number): Promise<Ret> {
  const total = specOf(k.state.topo, pd.bdf)?.sriov?.total_vfs ?? 0;
  const g = numVfsGuard(pd.bdf);
  if (nr === 0) return 0;
  if (k.read(pd, 'num_VFs', g) !== 0) return errno('EINVAL');
  if (nr < 0 || nr > total) return errno('EINVAL');
  // pci_iov_set_numvfs + VFE|MSE under pci_cfg_access_lock(dev)
  await k.lock(pciCfgAccessLock(pd.bdf));
  k.write(pd, 'num_VFs', nr, g);
  await k.unlock(pciCfgAccessLock(pd.bdf));
  // sriov_add_vfs()
  for (let i = 0; i < nr; i++) {
    const rc = await pciIovAddVirtfn(k, pd.bdf, i);
    if (isErrno(rc)) {
      for (let j = i - 1; j >= 0; j--) await pciIovRemoveVirtfn(k, pd.bdf, j);
      k.write(pd, 'num_VFs', 0, g);
      return rc;
    }
  }
  return 0;
});

/** sriov_disable(): sriov_del_vfs() removes VF 0..num_VFs-1, VF Enable cleared (pci_cfg_access_lock), num_VFs = 0. */
export const sriovDisable = kfunc('sriov_disable', { actor: 'pci', source: 'drivers/pci/iov.c: sriov_disable' }, async function sriovDisable(k: K, pd: PciDev): Promise<void> {
  const g = numVfsGuard(pd.bdf);
  const n = k.read(pd, 'num_VFs', g);
  if (n === 0) return;
  for (let i = 0; i < n; i++) await pciIovRemoveVirtfn(k, pd.bdf, i);
  await k.lock(pciCfgAccessLock(pd.bdf));
  k.write(pd, 'num_VFs', 0, g);
  await k.unlock(pciCfgAccessLock(pd.bdf));
});

/**
 * pci_sriov_configure_simple() as the PF driver's sriov_configure: n > 0
 * pci_enable_sriov() and returns n; 0 pci_disable_sriov() and returns 0.
 * (vfio-pci's own sriov_configure — vf_token, vfio_pci_sriov_pfs_mutex,
 * memory_lock around pci_enable_sriov — is not modelled.)
 */
export const pciSriovConfigureSimple = kfunc('pci_sriov_configure_simple', { actor: 'pci', source: 'drivers/pci/iov.c: pci_sriov_configure_simple' }, async function pciSriovConfigureSimple(k: K, pd: PciDev, nr: number): Promise<number | Errno> {
  if (nr === 0) {
    await sriovDisable(k, pd);
    return 0;
  }
  const rc = await sriovEnable(k, pd, nr);
  return isErrno(rc) ? rc : nr;
});

/**
 * sriov_numvfs_store(): a write of `n` to /sys/bus/pci/devices/<pf>/sriov_numvfs.
 * The attribute exists on a PF only (sriov_pf_attrs_are_visible): -ENOENT
 * otherwise; n > total_VFs -ERANGE; a device that is gone has no attribute
 * (-ENODEV). Then, under device_lock(PF): n equal to num_VFs is a no-op;
 * no driver, or one without sriov_configure, -ENOENT; enabling while VFs are
 * enabled -EBUSY; the callback runs with pci_rescan_remove_lock held
 * (a5338e365c45). Returns 0 (the write's count) or the errno. The attribute
 * pins the device for the write (kernfs active reference; modelled as a
 * device reference: sriov_numvfs is not yet a kernfs node of the model).
 */
export const sriovNumvfsStore = kfunc('sriov_numvfs_store', { actor: 'pci', source: 'drivers/pci/iov.c: sriov_numvfs_store' }, async function sriovNumvfsStore(k: K, pf: string, n: number): Promise<Ret> {
  const spec = specOf(k.state.topo, pf);
  if (spec?.sriov === undefined) return errno('ENOENT');
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) return errno('EINVAL'); // kstrtou16
  if (n > spec.sriov.total_vfs) return errno('ERANGE');
  const pd = devOf(k, pf);
  if (pd === undefined) return errno('ENODEV');
  const got = await k.call<unknown>(DRIVER_CORE, 'sysfs_get_device', { dev: pf });
  if (isErrno(got)) return errno('ENODEV');
  let ret: Ret = 0;
  await k.lock(deviceLock(pf));
  try {
    const g = numVfsGuard(pf);
    if (n === k.read(pd, 'num_VFs', g)) return 0;
    // pdev->driver, read under device_lock
    const drv = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev: pf });
    const ops = drv.driver === null ? undefined : k.state.drivers.get(drv.driver);
    if (drv.driver === null || ops?.sriov_configure !== true) return errno('ENOENT');
    if (n !== 0 && k.read(pd, 'num_VFs', g) !== 0) return errno('EBUSY'); // "%d VFs already enabled. Disable before enabling %d VFs"
    await k.lock(pciRescanRemoveLock());
    const r = await pciSriovConfigureSimple(k, pd, n);
    await k.unlock(pciRescanRemoveLock());
    if (isErrno(r)) ret = r;
    else if (r !== n) k.warn(`sriov_numvfs_store: ${pf}: ${n} VFs requested; only ${r} enabled`);
    return ret;
  } finally {
    await k.unlock(deviceLock(pf));
    await k.call(DRIVER_CORE, 'put_device', { dev: pf });
  }
});
