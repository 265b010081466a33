import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { deviceLock, nested, pciCfgAccessLock } from '../../protocol/lock-classes.ts';
import { pciehpResetSlot } from './hotplug.ts';
import { devOf, presentOf } from './state.ts';
import type { K, PciDev } from './state.ts';
import { specOf, subtree, slotBusDevices, upstreamBridge } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * pci_reset_bus() (drivers/pci/pci.c), the bus/slot reset VFIO's hot reset
 * uses (docs/kernel-facts.md §4.3): a slot reset when the device sits in a
 * pciehp slot (pci_probe_reset_slot), else a secondary bus reset of its
 * upstream bridge (-ENOTTY on a root bus). Every device below is locked
 * with pci_dev_trylock() — pci_slot_trylock()/pci_bus_trylock(), the bridge
 * first since "PCI: Add missing bridge lock to pci_bus_lock()" — and any
 * contention is -EAGAIN: the caller (VFIO) holds dev_set->lock and must not
 * block on a device_lock (§1.2 edge 21). As read, this path does not call
 * pci_dev_reset_iommu_prepare()/done() in 7.0.0.
 */

type Ret = 0 | Errno;

/** pci_dev_trylock() at a nesting subclass (trylocks add no lockdep edge; the subclass only names the pair in reports). */
const devTrylock = kfunc('pci_bus_trylock', { actor: 'pci', source: 'drivers/pci/pci.c: pci_bus_trylock' }, async function devTrylock(k: K, dev: string, sub: number): Promise<boolean> {
  if (await k.trylock(deviceLock(dev, sub))) {
    if (await k.trylock(nested(pciCfgAccessLock(dev), sub))) return true;
    await k.unlock(deviceLock(dev, sub));
  }
  return false;
});

const devUnlock = kfunc('pci_bus_unlock', { actor: 'pci', source: 'drivers/pci/pci.c: pci_bus_unlock' }, async function devUnlock(k: K, dev: string, sub: number): Promise<void> {
  await k.unlock(nested(pciCfgAccessLock(dev), sub));
  await k.unlock(deviceLock(dev, sub));
});

/** The reset itself: every device below is in reset for one preemption point. */
async function resetWindow(k: K, devs: readonly PciDev[]): Promise<void> {
  for (const pd of devs) k.write(pd, 'in_reset', true, { guard: deviceLock(pd.bdf) });
  await k.yield();
  for (const pd of devs) k.write(pd, 'in_reset', false, { guard: deviceLock(pd.bdf) });
}

/** pci_reset_bus(pdev). Ret: -ENODEV for a device not present, -ENOTTY when neither reset applies, -EAGAIN on contention. */
export const pciResetBus = kfunc('pci_reset_bus', { actor: 'pci', source: 'drivers/pci/pci.c: pci_reset_bus' }, async function pciResetBus(k: K, dev: string): Promise<Ret> {
  const pt = k.state.topo;
  if (!(await presentOf(k, [dev])).has(dev)) return errno('ENODEV');
  const slot = specOf(pt, dev)?.slot;
  const bridge = upstreamBridge(pt, dev);
  // __pci_reset_slot(): the slot's devices and what is below them; __pci_reset_bus(): the bridge's secondary bus
  const tops = slot !== undefined ? slotBusDevices(pt, slot) : bridge !== null ? (pt.children.get(bridge) ?? []) : null;
  if (tops === null) return errno('ENOTTY');
  const below = tops.flatMap((t) => subtree(pt, t));
  const present = await presentOf(k, below);
  const targets = below.filter((d) => present.has(d));
  // pci_bus_trylock(): bus->self first (subclass 0), then every device below it (subclass 1)
  const locked: [string, number][] = [];
  const order: [string, number][] = [...(bridge !== null && slot === undefined ? [[bridge, 0] as [string, number]] : []), ...targets.map((d): [string, number] => [d, 1])];
  for (const [d, sub] of order) {
    if (!(await devTrylock(k, d, sub))) {
      for (const [u, s] of [...locked].reverse()) await devUnlock(k, u, s);
      return errno('EAGAIN');
    }
    locked.push([d, sub]);
  }
  const pds = targets.map((d) => devOf(k, d)).filter((p): p is PciDev => p !== undefined);
  if (slot !== undefined) await pciehpResetSlot(k, slot, () => resetWindow(k, pds));
  else await resetWindow(k, pds);
  for (const [u, s] of [...locked].reverse()) await devUnlock(k, u, s);
  return 0;
});
