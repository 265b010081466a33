import type { DriverAction } from './driver-actions.ts';

/**
 * The machine a kernel-model program boots: IOMMU units, the PCI hierarchy,
 * platform devices and the drivers that may bind to them. Plain data; every
 * kernel actor gets the whole topology in its configuration and keeps what
 * it owns (driver-core: struct device and drivers; pci: pci_dev; iommu-core:
 * dev->iommu, groups, domains; each unit: its hardware).
 *
 * Names are the kernel's: a PCI device is named by its BDF
 * ("0000:00:1c.0"), a platform device by its device name.
 */
export interface Topology {
  readonly units: readonly UnitSpec[];
  readonly pci: readonly PciDevSpec[];
  readonly platform?: readonly PlatformDevSpec[];
  readonly drivers: readonly DriverSpec[];
  /** Loadable driver modules (drivers name theirs in `module`). */
  readonly modules?: readonly ModuleSpec[];
  /** Processes' address spaces SVA may bind (mm_struct names). */
  readonly mms?: readonly string[];
  /** iommu.passthrough: the default domain type of every group (IDENTITY instead of DMA). */
  readonly passthrough?: boolean;
}

/** IOMMU hardware kinds; a unit's behaviour differs by kind and kernel version (docs/kernel-facts.md §5). */
export type UnitKind = 'vtd' | 'amd-vi' | 'smmu-v3' | 'mock';

export interface UnitSpec {
  /** Instance name; its actor id is `unit:<name>` (unitActor). */
  readonly name: string;
  readonly kind: UnitKind;
  /** Kernel version profile, e.g. "7.0", "5.10" (default "7.0"). */
  readonly version?: string;
  /** The instance's PASID width: dev->iommu->max_pasids is min(device, this). 0: no PASID support. */
  readonly max_pasids?: number;
  /**
   * ops->is_attach_deferred: VT-d and AMD-Vi may ask the core not to touch a
   * device's translation until its first DMA API use (kdump). The devices it
   * applies to say so with `attach_deferred`.
   */
  readonly attach_deferred?: boolean;
  /** The unit supports SVA (ops->domain_alloc_sva). Default: true except for the mock. */
  readonly sva?: boolean;
  /**
   * A plug-in unit model: the module (a path, or a package-relative name)
   * whose export `export` (default "default") is an actor implementing
   * protocol/iommu-unit.ts. Absent: the model of `kind` (hardware/index.ts).
   */
  readonly module?: string;
  readonly export?: string;
  /**
   * The unit's driver has registered it (iommu_device_register) before the
   * first device_add. `false`: the hardware is there but its driver comes
   * later (a module, a late initcall): devices probe without it
   * (dma-direct), and the `iommu.register` op registers it at run time
   * (bus_iommu_probe). Default true.
   */
  readonly present_at_boot?: boolean;
}

export interface PciDevSpec {
  /** "0000:00:1c.0" */
  readonly bdf: string;
  /** Upstream bridge's BDF; absent for a device on a root bus. */
  readonly parent?: string;
  /** A bridge or root port: devices may sit below it. */
  readonly bridge?: boolean;
  /**
   * PCI ACS. On a bridge/root port: peer-to-peer below it is isolated, so its
   * downstream devices do not have to share a group (pci_acs_path_enabled).
   * On a multi-function device: its functions are isolated from each other.
   */
  readonly acs?: boolean;
  /** The device shares requester ids with this device (pci_for_each_dma_alias): same group. */
  readonly alias?: string;
  /** The IOMMU unit that translates this device's DMA. Absent: no IOMMU (dev->iommu stays NULL). */
  readonly unit?: string;
  /** ATS capability (pci_ats_supported): reset prepare/done only act on ATS-capable devices. */
  readonly ats?: boolean;
  /** PASID capability width in bits (pci_max_pasids = 1 << bits); 0 / absent: none. */
  readonly pasid_bits?: number;
  /** The firmware gives it an IOMMU_RESV_DIRECT region (RMRR/IVMD/RMR): dev->iommu->require_direct. */
  readonly require_direct?: boolean;
  /** The unit defers its attach (kdump with translation left on): dev->iommu->attach_deferred at probe. */
  readonly attach_deferred?: boolean;
  /** dev->reset_methods[], in order of preference; default ["flr"]. */
  readonly reset_methods?: readonly PciResetMethod[];
  /** The pciehp slot controller this device sits in (slot resets and surprise removal). */
  readonly slot?: string;
  /** The driver to bind (driver_override); matched at device_add and on sysfs bind. */
  readonly driver?: string;
  /** Not present at boot: added later by a rescan (hot-add). */
  readonly hotplug?: boolean;
  /**
   * The SR-IOV capability (drivers/pci/iov.c sriov_init): a physical
   * function that can enable `total_vfs` virtual functions. VF n's routing id
   * is the PF's plus `offset` + n·`stride` (First VF Offset, VF Stride;
   * defaults 0x80 and 1). `vf_driver` is the driver_override the VFs get
   * (e.g. vfio-pci; none: they stay unbound). The VFs themselves are derived
   * (withVirtfns) and never listed.
   */
  readonly sriov?: SriovSpec;
  /**
   * Set on a derived VF only (withVirtfns): the PF it belongs to
   * (virtfn->physfn). A VF is not present at boot and no rescan finds it:
   * only the PF's sriov_enable() adds it.
   */
  readonly physfn?: string;
  /**
   * An s390 zPCI function: vfio-pci's open_device registers the VM's KVM
   * with the function (vfio_pci_zdev_open_device → kvm_s390_pci_register_kvm,
   * under kvm->lock) and close_device unregisters it: the driver side of bug B13.
   */
  readonly zpci?: boolean;
  /** Set on a derived VF only: its VF number (pci_iov_virtfn_devfn's id). */
  readonly vf_id?: number;
}

export interface SriovSpec {
  readonly total_vfs: number;
  readonly offset?: number;
  readonly stride?: number;
  readonly vf_driver?: string;
}

/** The reset methods the model implements (drivers/pci/pci.c pci_reset_fn_methods[]). */
export type PciResetMethod = 'flr' | 'pm' | 'bus' | 'cxl_bus';

export interface PlatformDevSpec {
  readonly name: string;
  readonly unit?: string;
  /**
   * Devices with the same `group` share one iommu group (a driver
   * device_group op that groups them, like Tegra's memory client groups);
   * absent: a singleton group (generic_device_group).
   */
  readonly group?: string;
  readonly driver?: string;
  readonly pasid_bits?: number;
  readonly require_direct?: boolean;
}

/**
 * A driver is data: its name, whether it manages DMA itself
 * (`driver_managed_dma`, as vfio-pci and pci-stub set), and what its probe and
 * remove do, as a list of kernel calls the driver-core actor executes in the
 * probing task (actors/driver-core/driver-ops.ts).
 */
export interface DriverSpec {
  readonly name: string;
  readonly bus: 'pci' | 'platform';
  readonly driver_managed_dma?: boolean;
  /** Probe returns -EPROBE_DEFER this many times before its actions run (deferred probe). */
  readonly defer?: number;
  /** PROBE_PREFER_ASYNCHRONOUS: __device_attach() schedules the probe after unlocking. */
  readonly async?: boolean;
  /**
   * driver->probe_type (include/linux/device/driver.h enum probe_type):
   * `async` = PROBE_PREFER_ASYNCHRONOUS (the same as `async: true`), `sync`
   * = PROBE_FORCE_SYNCHRONOUS, `default` = PROBE_DEFAULT_STRATEGY
   * (synchronous: no async_probe module parameter is modelled).
   */
  readonly probe_type?: 'default' | 'async' | 'sync';
  readonly probe?: readonly DriverAction[];
  readonly remove?: readonly DriverAction[];
  /**
   * PCI: the driver's err_handler->reset_prepare / reset_done, run by
   * pci_dev_save_and_disable() / pci_dev_restore() around a function reset,
   * with device_lock held (drivers/pci/pci.c).
   */
  readonly reset_prepare?: readonly DriverAction[];
  readonly reset_done?: readonly DriverAction[];
  /**
   * PCI: the driver has a sriov_configure callback, and it is
   * pci_sriov_configure_simple() (pci-pf-stub's, and what most PF drivers
   * reduce to): pci_enable_sriov() / pci_disable_sriov(). Without it, a write
   * to sriov_numvfs fails with -ENOENT.
   */
  readonly sriov_configure?: boolean;
  /** The loadable module that provides it (topology.modules); absent: built in, never unloaded. */
  readonly module?: string;
}

/** A loadable driver module (kernel/module/main.c): its drivers are the ones whose `module` names it. */
export interface ModuleSpec {
  readonly name: string;
  /** Loaded at boot (modprobe'd by udev before the scenario starts). Default true; false: a `module.load` op loads it. */
  readonly boot?: boolean;
}

/** A unit whose driver registers it before the first device_add (UnitSpec.present_at_boot). */
export const presentAtBoot = (u: UnitSpec): boolean => u.present_at_boot !== false;

/** The actor id of an IOMMU unit. */
export const unitActor = (unit: string): string => `unit:${unit}`;

/**
 * The PCI devices of a topology by BDF, made once per topology object (a
 * topology is never changed after it is made). Look-ups by name were scans
 * of the whole list, once or more per device probed: O(N²) in a boot of N
 * devices (issue 19).
 */
const pciIndexes = new WeakMap<readonly PciDevSpec[], ReadonlyMap<string, PciDevSpec>>();
const platformIndexes = new WeakMap<readonly PlatformDevSpec[], ReadonlySet<string>>();

/** The topology's spec of PCI device `bdf`. */
export function pciSpec(t: Topology, bdf: string): PciDevSpec | undefined {
  let index = pciIndexes.get(t.pci);
  if (index === undefined) {
    const m = new Map<string, PciDevSpec>();
    // the first of a duplicated BDF, as a scan found it (pciTopology refuses duplicates)
    for (const d of t.pci) if (!m.has(d.bdf)) m.set(d.bdf, d);
    index = m;
    pciIndexes.set(t.pci, index);
  }
  return index.get(bdf);
}

/** The bus a device sits on. */
export function busOf(t: Topology, dev: string): 'pci' | 'platform' | null {
  if (pciSpec(t, dev) !== undefined) return 'pci';
  const platform = t.platform;
  if (platform === undefined) return null;
  let names = platformIndexes.get(platform);
  if (names === undefined) {
    names = new Set(platform.map((d) => d.name));
    platformIndexes.set(platform, names);
  }
  return names.has(dev) ? 'platform' : null;
}

/**
 * drivers/pci/iov.c pci_iov_virtfn_bus() / pci_iov_virtfn_devfn(): the BDF
 * of VF `id` of a PF at `pf` (bus + ((devfn + offset + stride·id) >> 8),
 * devfn = (devfn + offset + stride·id) & 0xff).
 */
export function virtfnBdf(pf: string, sriov: SriovSpec, id: number): string {
  const m = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(pf);
  if (m === null) throw new Error(`pci: "${pf}" is not a BDF (dddd:bb:dd.f)`);
  const bus = parseInt(m[2] as string, 16);
  const devfn = (parseInt(m[3] as string, 16) << 3) | parseInt(m[4] as string, 10);
  const rid = devfn + (sriov.offset ?? 0x80) + (sriov.stride ?? 1) * id;
  const vbus = bus + (rid >> 8);
  const vdevfn = rid & 0xff;
  const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
  return `${m[1] as string}:${hex2(vbus)}:${hex2(vdevfn >> 3)}.${vdevfn & 7}`;
}

/** The VFs of a PF, in VF order. */
export function virtfnsOf(t: Topology, pf: string): string[] {
  return t.pci.filter((d) => d.physfn === pf).sort((a, b) => (a.vf_id ?? 0) - (b.vf_id ?? 0)).map((d) => d.bdf);
}

/**
 * The topology with every SR-IOV PF's possible VFs as PCI devices
 * (pci_iov_add_virtfn's pci_dev): each right after its PF, on the PF's bus
 * (virtfn->dev.parent = dev->dev.parent), translated by the PF's unit, in
 * the PF's slot, `physfn` and `vf_id` set, driver_override from the PF's
 * `vf_driver`. Idempotent (a topology that already has them is returned
 * as it is). Every kernel actor gets this topology (scenarios/kernel/program.ts).
 */
export function withVirtfns(t: Topology): Topology {
  if (!t.pci.some((d) => d.sriov !== undefined) || t.pci.some((d) => d.physfn !== undefined)) return t;
  const pci: PciDevSpec[] = [];
  for (const d of t.pci) {
    pci.push(d);
    const sr = d.sriov;
    if (sr === undefined) continue;
    for (let id = 0; id < sr.total_vfs; id++) {
      pci.push({
        bdf: virtfnBdf(d.bdf, sr, id), physfn: d.bdf, vf_id: id,
        ...(d.parent !== undefined ? { parent: d.parent } : {}),
        ...(d.unit !== undefined ? { unit: d.unit } : {}),
        ...(d.slot !== undefined ? { slot: d.slot } : {}),
        ...(sr.vf_driver !== undefined ? { driver: sr.vf_driver } : {}),
      });
    }
  }
  return { ...t, pci };
}
