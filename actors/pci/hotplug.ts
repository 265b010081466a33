import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { enterContext, pciehpIst } from '../../protocol/contexts.ts';
import { pciRescanRemoveLock, pciehpResetLock } from '../../protocol/lock-classes.ts';
import type { LockRef } from '../../protocol/events.ts';
import { pciStopAndRemoveBusDevice } from './probe.ts';
import { devOf, onBusLocked, pciBusSem, presentOf } from './state.ts';
import type { K } from './state.ts';
import { slotBusDevices, slotDepth, subtree } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * pciehp (drivers/pci/hotplug/pciehp_*.c). A slot is named by the topology
 * (`PciDevSpec.slot`); its controller's reset_lock is `<slot>->reset_lock`,
 * nested by ctrl->depth as the kernel's down_read_nested/down_write_nested do.
 */
export const slotResetLock = (k: K, slot: string): LockRef => pciehpResetLock(slot, slotDepth(k.state.topo, slot));

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
  const onBus = slotBusDevices(pt, slot);
  if (onBus.length === 0) return errno('ENODEV');
  const resetLock = slotResetLock(k, slot);
  // pciehp_ist() of this slot's controller: one IRQ thread, never concurrent with itself
  enterContext(k, pciehpIst(slot));
  await k.down_read(resetLock);
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
