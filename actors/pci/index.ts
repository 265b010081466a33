import { defineActor } from '../../runtime/actor.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { errno } from '../../protocol/errno.ts';
import type { KernelConfig } from '../../protocol/kernel.ts';
import type { PciMailbox } from '../../protocol/pci.ts';
import { pciDevIsDisconnected, pciDmaCleanup, pciDmaConfigure } from './dma.ts';
import { pciehpDisableSlot, pciehpEnableSlot } from './hotplug.ts';
import { pciRescanBus, pciScanRootBus, pciStopAndRemoveBusDeviceLocked } from './probe.ts';
import { pciResetFunction, pciResetFunctionLocked, pciTryResetFunction } from './reset.ts';
import { pciResetBus } from './bus-reset.ts';
import { sriovNumvfsStore } from './iov.ts';
import { devOf, initState } from './state.ts';
import type { K, PciState } from './state.ts';

/**
 * The pci actor (drivers/pci/): owns struct pci_dev of every device of the
 * topology, enumerates and removes them (probe.ts), resets them (reset.ts),
 * handles pciehp slot removal (hotplug.ts), implements the PCI bus DMA hooks
 * (dma.ts) and answers the IOMMU core's grouping question (topology.ts).
 */
export const pci = defineActor<PciState, PciMailbox>('pci', {
  state: (config) => initState(config as KernelConfig),
  handlers: {
    pci_scan_root_bus: (k) => pciScanRootBus(k),
    pci_rescan_bus: (k, { dev }) => pciRescanBus(k, dev),
    pci_stop_and_remove_bus_device_locked: (k, { dev }) => pciStopAndRemoveBusDeviceLocked(k, dev),
    pciehp_disable_slot: (k, { slot, surprise }) => pciehpDisableSlot(k, slot, surprise),
    pciehp_enable_slot: (k, { slot }) => pciehpEnableSlot(k, slot),
    pci_reset_function: (k, { dev }) => pciResetFunction(k, dev),
    pci_try_reset_function: (k, { dev }) => pciTryResetFunction(k, dev),
    pci_reset_function_locked: (k, { dev }) => pciResetFunctionLocked(k, dev),
    pci_reset_bus: (k, { dev }) => pciResetBus(k, dev),
    sriov_numvfs_store: (k, { dev, num_vfs }) => sriovNumvfsStore(k, dev, num_vfs),
    // drivers/iommu/iommu.c pci_device_group(): WARN_ON(!dev_is_pci(dev)) → -EINVAL
    pci_device_group: kfunc('pci_device_group', { actor: 'pci', source: 'drivers/iommu/iommu.c: pci_device_group' }, async function pciDeviceGroup(k: K, { dev }: { readonly dev: string }) {
      const peers = k.state.groups.get(dev);
      if (peers === undefined) {
        k.warn(`pci_device_group: ${dev} is not a PCI device`);
        return errno('EINVAL');
      }
      // its walks (pci_for_each_dma_alias, pci_get_slot, the upstream bridges) meet the devices on the bus
      // lists, not the static partition's members a removal has taken away. A walk never touches a removed
      // pci_dev, so the membership test reads the model's own flag without an access event (a removed
      // device's struct is freed; an instrumented read of it would be a use-after-free the kernel does not do).
      return { peers: peers.filter((p) => p === dev || devOf(k, p)?.present === true) };
    }),
    pci_dma_configure: (k, { dev }) => pciDmaConfigure(k, dev),
    pci_dma_cleanup: (k, { dev }) => pciDmaCleanup(k, dev),
    pci_dev_is_disconnected: (k, { dev }) => pciDevIsDisconnected(k, dev),
  },
  inspect: (s) => ({
    devices: [...s.devs.values()].map((d) => ({ bdf: d.bdf, present: d.present, disconnected: d.disconnected, in_reset: d.in_reset, ...(d.num_VFs !== 0 ? { num_VFs: d.num_VFs } : {}) })),
    buses: Object.fromEntries([...s.buses.values()].map((b) => [b.id, b.devices])),
    groups: [...new Map([...s.groups.values()].map((g) => [g.join(','), g])).values()],
  }),
});

export default pci;
