/**
 * sysfs attribute paths the model serves (the `sysfs.read` / `sysfs.write`
 * ops, driver-core's kernfs_fop_read / kernfs_fop_write). One parser for the
 * document reader (load-time checks: an unknown path is exit 2 naming the
 * op) and for the driver-core actor, so both agree on what a path means.
 *
 *   /sys/bus/<bus>/devices/<dev>/uevent            r/w  dev_attr_uevent (drivers/base/core.c)
 *   /sys/bus/<bus>/devices/<dev>/driver_override   r/w  driver_override (drivers/pci/pci-sysfs.c, drivers/base/platform.c)
 *   /sys/bus/pci/devices/<dev>/reset               w    dev_attr_reset (drivers/pci/pci-sysfs.c)
 *   /sys/bus/pci/devices/<dev>/remove              w    dev_attr_remove (drivers/pci/pci-sysfs.c, DEVICE_ATTR_IGNORE_LOCKDEP)
 *   /sys/bus/<bus>/devices/<dev>/iommu_group/type  r/w  iommu_group_attr_type (drivers/iommu/iommu.c; through the iommu_group link)
 *   /sys/bus/<bus>/drivers/<drv>/bind              w    driver_attr_bind (drivers/base/bus.c, DRIVER_ATTR_IGNORE_LOCKDEP)
 *   /sys/bus/<bus>/drivers/<drv>/unbind            w    driver_attr_unbind (idem)
 */

export type SysfsBus = 'pci' | 'platform';
export type DeviceAttrName = 'uevent' | 'driver_override' | 'reset' | 'remove' | 'type';
export type DriverAttrName = 'bind' | 'unbind';
export type SysfsAttrName = DeviceAttrName | DriverAttrName;

export type SysfsPath =
  | { readonly kind: 'device'; readonly bus: SysfsBus; readonly dev: string; readonly attr: DeviceAttrName }
  | { readonly kind: 'driver'; readonly bus: SysfsBus; readonly driver: string; readonly attr: DriverAttrName };

export interface SysfsAttrInfo {
  readonly show: boolean;
  readonly store: boolean;
  /** Only on this bus (reset and remove are PCI attributes). */
  readonly bus?: SysfsBus;
  /**
   * The attribute's kn->active has a lockdep map: false for
   * DEVICE_ATTR_IGNORE_LOCKDEP / DRIVER_ATTR_IGNORE_LOCKDEP (attr->ignore_lockdep:
   * sysfs_add_file_mode_ns() then passes no lock_class_key and kernfs_lockdep() is false).
   */
  readonly lockdep: boolean;
}

export const SYSFS_ATTRS: Readonly<Record<SysfsAttrName, SysfsAttrInfo>> = {
  uevent: { show: true, store: false, lockdep: true },
  driver_override: { show: true, store: true, lockdep: true },
  reset: { show: false, store: true, bus: 'pci', lockdep: true },
  remove: { show: false, store: true, bus: 'pci', lockdep: false },
  type: { show: true, store: true, lockdep: true },
  bind: { show: false, store: true, lockdep: false },
  unbind: { show: false, store: true, lockdep: false },
};

const DEVICE_RE = /^\/sys\/bus\/(pci|platform)\/devices\/([^/]+)\/(uevent|driver_override|reset|remove|iommu_group\/type)$/;
const DRIVER_RE = /^\/sys\/bus\/(pci|platform)\/drivers\/([^/]+)\/(bind|unbind)$/;

/** The attribute a path names, or a sentence saying why it names none. */
export function parseSysfsPath(path: string): SysfsPath | string {
  const d = DEVICE_RE.exec(path);
  if (d !== null) {
    const attr = (d[3] === 'iommu_group/type' ? 'type' : d[3]) as DeviceAttrName;
    const bus = d[1] as SysfsBus;
    const only = SYSFS_ATTRS[attr].bus;
    if (only !== undefined && only !== bus) return `${attr} is a ${only} device attribute, not a ${bus} one`;
    return { kind: 'device', bus, dev: d[2]!, attr };
  }
  const r = DRIVER_RE.exec(path);
  if (r !== null) return { kind: 'driver', bus: r[1] as SysfsBus, driver: r[2]!, attr: r[3] as DriverAttrName };
  return 'not an attribute the model serves (/sys/bus/<pci|platform>/devices/<dev>/{uevent,driver_override,reset,remove,iommu_group/type}, /sys/bus/<bus>/drivers/<drv>/{bind,unbind})';
}

/** The attribute's file name as the kernfs node is named. */
export const attrOf = (p: SysfsPath): SysfsAttrName => p.attr;
