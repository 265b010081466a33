import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { enterContext, pciehpIst } from '../../protocol/contexts.ts';
import { pciRescanRemoveLock, pciehpResetLock } from '../../protocol/lock-classes.ts';
import type { LockRef } from '../../protocol/events.ts';
import { DRIVER_CORE } from '../../protocol/kernel.ts';
import { isErrno } from '../../protocol/errno.ts';
import { pciStopAndRemoveBusDevice } from './probe.ts';
import { devOf, onBusLocked, pciBusSem, presentOf, setAdded, setOnBus } from './state.ts';
import type { K } from './state.ts';
import { isVirtfn, parentsFirst, slotBusDevices, slotDepth, subtree } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * pciehp (drivers/pci/hotplug/pciehp_*.c). A slot is named by the topology
 * (`PciDevSpec.slot`); its controller's reset_lock is `<slot>->reset_lock`,
 * nested by ctrl->depth as the kernel's down_read_nested/down_write_nested do.
 */
export const slotResetLock = (k: K, slot: string): LockRef => pciehpResetLock(slot, slotDepth(k.state.topo, slot));

/**
 * The start of both slot events in pciehp_ist(): the task becomes this
 * slot's controller's IRQ thread (one thread, never concurrent with itself)
 * and takes its reset_lock for read (down_read_nested(&ctrl->reset_lock,
 * ctrl->depth)). -ENODEV for a slot no device of the topology sits in.
 */
async function istEnter(k: K, slot: string): Promise<{ readonly onBus: readonly string[]; readonly resetLock: LockRef } | Errno> {
  const onBus = slotBusDevices(k.state.topo, slot);
  if (onBus.length === 0) return errno('ENODEV');
  const resetLock = slotResetLock(k, slot);
  enterContext(k, pciehpIst(slot));
  await k.down_read(resetLock);
  return { onBus, resetLock };
}

/**
 * pciehp_ist() → pciehp_handle_disable_request() / presence change →
 * pciehp_disable_slot() → remove_board() → pciehp_unconfigure_device():
 *
 *   down_read_nested(&ctrl->reset_lock, ctrl->depth)          (pciehp_ist)
 *   if surprise: pci_walk_bus(parent, pci_dev_set_disconnected)
 *   pci_lock_rescan_remove()
 *   for each device on the slot's bus, in reverse:
 *     up_read(&ctrl->reset_lock)      — released around unbinding since
 *     pci_stop_and_remove_bus_device()   f5eff5591b8f ("PCI: pciehp: Fix
 *     down_read_nested(...)              AB-BA deadlock between reset_lock
 *                                        and device_lock")
 *   pci_unlock_rescan_remove()
 *   up_read(&ctrl->reset_lock)                                (pciehp_ist)
 *
 * Re-taking reset_lock with pci_rescan_remove_lock held closes the cycle
 * reset_lock → pci_rescan_remove_lock → reset_lock that lockdep reports on
 * 6.14; the maintainer answered that both stacks are pciehp_ist()'s and the
 * IRQ thread is single-threaded, so the two-lock cycle is no deadlock: the
 * task runs as the controller's IRQ thread (protocol/contexts.ts) and
 * lockdep drops cycles only that thread makes. With a sysfs remove
 * (pci_rescan_remove_lock → device_lock) and a slot reset (device_lock →
 * reset_lock write) running at the same time it is a real three-task
 * deadlock, which is still reported (test/kernel/pci.test.ts).
 *
 * The `pciehp-unconfigure` variant `drop-reset-lock-first` is the candidate
 * fix of the three-party deadlock (scenarios/upstream/pciehp-three-party.ts):
 * reset_lock is released before pci_lock_rescan_remove() and not retaken
 * while pci_rescan_remove_lock is held.
 *
 * -ENODEV for a slot no device of the topology sits in.
 */
export const pciehpDisableSlot = kfunc('pciehp_disable_slot', { actor: 'pci', source: 'drivers/pci/hotplug/pciehp_ctrl.c: pciehp_disable_slot' }, async function pciehpDisableSlot(k: K, slot: string, surprise: boolean): Promise<0 | Errno> {
  const pt = k.state.topo;
  const ist = await istEnter(k, slot);
  if (isErrno(ist)) return ist;
  const { onBus, resetLock } = ist;
  if (surprise) {
    // pci_walk_bus() holds pci_bus_sem for read while it visits the devices below the port
    await k.down_read(pciBusSem());
    const below = onBusLocked(k, onBus.flatMap((top) => subtree(pt, top)));
    for (const d of below) {
      const pd = devOf(k, d);
      if (pd !== undefined) k.write(pd, 'disconnected', true, { lockless: true });
    }
    await k.up_read(pciBusSem());
  }
  const dropFirst = k.state.variants['pciehp-unconfigure'] === 'drop-reset-lock-first';
  if (dropFirst) await k.up_read(resetLock);
  await k.lock(pciRescanRemoveLock());
  for (const top of [...onBus].reverse()) {
    // list_for_each_entry_safe_reverse(dev, temp, &parent->devices, bus_list): only devices on the list
    if (!(await presentOf(k, [top])).has(top)) continue;
    if (!dropFirst) await k.up_read(resetLock);
    await pciStopAndRemoveBusDevice(k, top);
    if (!dropFirst) await k.down_read(resetLock);
  }
  await k.unlock(pciRescanRemoveLock());
  if (!dropFirst) await k.up_read(resetLock);
  enterContext(k, null);
  return 0;
});

/**
 * pciehp_reset_slot() (drivers/pci/hotplug/pciehp_hpc.c), reached from a
 * reset method under the device's device_lock: device_lock → reset_lock
 * (write), §1.2 edge 5. The secondary bus reset itself is one preemption
 * point.
 */
export const pciehpResetSlot = kfunc('pciehp_reset_slot', { actor: 'pci', source: 'drivers/pci/hotplug/pciehp_hpc.c: pciehp_reset_slot' }, async function pciehpResetSlot(k: K, slot: string, reset: () => Promise<void>): Promise<0> {
  const resetLock = slotResetLock(k, slot);
  await k.down_write(resetLock);
  await reset();
  await k.up_write(resetLock);
  return 0;
});

/**
 * pciehp hot-add: pciehp_ist() → pciehp_handle_presence_or_link_change() →
 * pciehp_enable_slot() → board_added() → pciehp_configure_device()
 * (drivers/pci/hotplug/pciehp_pci.c, 7.0):
 *
 *   down_read_nested(&ctrl->reset_lock, ctrl->depth)          (pciehp_ist)
 *   pci_lock_rescan_remove()
 *   the slot's device 0 already there → -EEXIST
 *   pci_scan_slot(): every device of the slot (and below it) not present
 *     pci_device_add(): on the bus list, device_add() with
 *     dev->match_driver = false — the IOMMU probe runs, no driver yet
 *   nothing found → -ENODEV
 *   up_read(&ctrl->reset_lock)         "Release reset_lock during driver binding
 *   pci_bus_add_devices(): device_attach()   to avoid AB-BA deadlock with device_lock"
 *   down_read_nested(&ctrl->reset_lock, ctrl->depth)
 *   pci_unlock_rescan_remove()
 *   up_read(&ctrl->reset_lock)                                (pciehp_ist)
 *
 * Retaking reset_lock under pci_rescan_remove_lock is the same
 * pci_rescan_remove_lock → reset_lock(read) edge pciehp_unconfigure_device()
 * makes (CANONICAL_ORDER, not preloaded; the known pciehp-reset-lock cycle
 * when another task joins it). Runs as the controller's IRQ thread. VFs are
 * not found by a scan (only their PF's sriov_enable adds them).
 */
export const pciehpEnableSlot = kfunc('pciehp_configure_device', { actor: 'pci', source: 'drivers/pci/hotplug/pciehp_pci.c: pciehp_configure_device' }, async function pciehpEnableSlot(k: K, slot: string): Promise<0 | Errno> {
  const pt = k.state.topo;
  const ist = await istEnter(k, slot);
  if (isErrno(ist)) return ist;
  const { onBus, resetLock } = ist;
  await k.lock(pciRescanRemoveLock());
  let ret: 0 | Errno = 0;
  const below = onBus.flatMap((d) => subtree(pt, d)).filter((d) => !isVirtfn(pt, d));
  const present = await presentOf(k, below);
  // pci_get_slot(parent, PCI_DEVFN(0, 0)): "The device is already there"
  if (onBus.some((d) => present.has(d))) ret = errno('EEXIST');
  else {
    const added: string[] = [];
    // pci_scan_slot() → pci_device_add(): bus list, device_add() without a driver match
    for (const d of parentsFirst(pt, below.filter((x) => !present.has(x)))) {
      const pd = devOf(k, d);
      if (pd === undefined) continue;
      await setOnBus(k, d, true);
      const r = await k.call<unknown>(DRIVER_CORE, 'device_add', { dev: d, match: false });
      if (isErrno(r)) {
        k.warn(`pci_device_add: device_add(${d}) failed: -${r.errno}`);
        await setOnBus(k, d, false);
        continue;
      }
      added.push(d);
    }
    if (added.length === 0) ret = errno('ENODEV'); // "No new device found"
    else {
      await k.up_read(resetLock);
      // pci_bus_add_devices() → pci_bus_add_device(): match_driver = true, device_attach()
      for (const d of added) {
        const pd = devOf(k, d);
        if (pd === undefined) continue;
        await k.call(DRIVER_CORE, 'device_attach', { dev: d });
        await setAdded(k, pd, true);
      }
      await k.down_read(resetLock);
    }
  }
  await k.unlock(pciRescanRemoveLock());
  await k.up_read(resetLock);
  enterContext(k, null);
  return ret;
});
