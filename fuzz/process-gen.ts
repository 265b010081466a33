import type { DocOp, DocProcess, DocTopology } from './document.ts';
import type { Rand } from './rand.ts';

/**
 * Userspace VFIO users (the document's `processes`): a process opens a
 * device that boots bound to vfio-pci the legacy way (group, container,
 * type1, device fd) or the cdev way (iommufd, cdev, bind, IOAS, attach),
 * then maps, unmaps, DMAs, resets, closes. Whatever userspace does is legal
 * — the kernel must cope with any order of syscalls — so these programs are
 * not legalized; set-up steps are sometimes cut short or skipped. A process
 * always exits at the end (a process that stays holds its files past the
 * end of the run, which the lifetime checker reports as a leak) and closes
 * its device when the kernel asks (one that ignores the request leaves the
 * unbind waiting for ever, which is the kernel's documented behaviour).
 */

const MAP_BASE = 0x100000;

/** Devices a process can open: those bound to vfio-pci at boot. */
export function vfioDevices(t: DocTopology): string[] {
  return t.pci.filter((d) => d.driver === 'vfio-pci').map((d) => d.id);
}

function legacy(r: Rand, dev: string): DocOp[] {
  const setup: DocOp[] = [
    { op: 'vfio.group.open', dev, as: 'g' },
    { op: 'vfio.container.open', as: 'c' },
    { op: 'ioctl', fd: 'g', cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'c' },
    { op: 'ioctl', fd: 'c', cmd: 'VFIO_SET_IOMMU' },
    { op: 'ioctl', fd: 'g', cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev, as: 'd' },
  ];
  const upTo = r.chance(0.8) ? setup.length : r.between(2, setup.length);
  const ops = setup.slice(0, upTo);
  const haveDevice = upTo === setup.length;
  const mapped: number[] = [];
  const n = r.between(1, 4);
  for (let i = 0; i < n; i++) {
    const iova = MAP_BASE + 0x1000 * r.int(3);
    const pick = r.weighted<() => DocOp | null>([
      [4, () => {
        mapped.push(iova);
        return { op: 'ioctl', fd: 'c', cmd: 'VFIO_IOMMU_MAP_DMA', iova, vaddr: r.between(1, 4) };
      }],
      [2, () => (mapped.length === 0 ? null : { op: 'ioctl', fd: 'c', cmd: 'VFIO_IOMMU_UNMAP_DMA', iova: r.pick(mapped) })],
      [3, () => (haveDevice ? { op: 'vfio.dma', fd: 'd', iova: mapped.length > 0 ? r.pick(mapped) : iova } : null)],
      [2, () => (haveDevice ? { op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_RESET' } : null)],
      [1, () => (haveDevice ? { op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['g'] } : null)],
      [1, () => (haveDevice ? { op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_SET_IRQS', index: 'REQ' } : null)],
      [1, () => ({ op: 'ioctl', fd: 'g', cmd: 'VFIO_GROUP_GET_STATUS' })],
      [1, () => ({ op: 'ioctl', fd: 'g', cmd: 'VFIO_GROUP_UNSET_CONTAINER' })],
      [1, () => (haveDevice ? { op: 'fd.close', fd: 'd' } : null)],
      [1, () => ({ op: 'fd.close', fd: 'c' })],
      [1, () => ({ op: 'proc.yield' })],
    ])();
    if (pick !== null) ops.push(pick);
  }
  return ops;
}

function cdev(r: Rand, dev: string): DocOp[] {
  const setup: DocOp[] = [
    { op: 'iommufd.open', as: 'i' },
    { op: 'vfio.cdev.open', dev, as: 'd' },
    { op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', iommufd: 'i', as: 'devid' },
    { op: 'ioctl', fd: 'i', cmd: 'IOMMU_IOAS_ALLOC', as: 'ioas' },
    { op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', pt: 'ioas' },
  ];
  const upTo = r.chance(0.8) ? setup.length : r.between(3, setup.length);
  const ops = setup.slice(0, upTo);
  const mapped: number[] = [];
  const n = r.between(1, 4);
  for (let i = 0; i < n; i++) {
    const iova = MAP_BASE + 0x1000 * r.int(3);
    const pick = r.weighted<() => DocOp | null>([
      [4, () => {
        mapped.push(iova);
        return { op: 'ioctl', fd: 'i', cmd: 'IOMMU_IOAS_MAP', ioas: 'ioas', iova, vaddr: r.between(1, 4) };
      }],
      [2, () => (mapped.length === 0 ? null : { op: 'ioctl', fd: 'i', cmd: 'IOMMU_IOAS_UNMAP', ioas: 'ioas', iova: r.pick(mapped) })],
      [3, () => ({ op: 'vfio.dma', fd: 'd', iova: mapped.length > 0 ? r.pick(mapped) : iova })],
      [2, () => ({ op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_RESET' })],
      [1, () => ({ op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' })],
      [1, () => ({ op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_SET_IRQS', index: 'REQ' })],
      [1, () => ({ op: 'ioctl', fd: 'i', cmd: 'IOMMU_HWPT_ALLOC', devid: 'devid', pt: 'ioas', as: 'hwpt' })],
      [1, () => ({ op: 'ioctl', fd: 'd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', pt: r.chance(0.5) ? 'hwpt' : 'ioas' })],
      [1, () => ({ op: 'ioctl', fd: 'i', cmd: 'IOMMU_DESTROY', id: r.chance(0.5) ? 'hwpt' : 'ioas' })],
      [1, () => ({ op: 'fd.close', fd: 'd' })],
      [1, () => ({ op: 'proc.yield' })],
    ])();
    if (pick !== null) ops.push(pick);
  }
  return ops;
}

/** One process using `dev`, named `name`. */
export function generateProcess(r: Rand, dev: string, name: string): DocProcess {
  const ops = r.chance(0.6) ? legacy(r, dev) : cdev(r, dev);
  return { name, ops: r.chance(0.5) ? [...ops, { op: 'proc.exit' }] : ops };
}

/** Zero to two processes for a machine (none if no device boots bound to vfio-pci). */
export function generateProcesses(r: Rand, t: DocTopology): DocProcess[] {
  const devs = vfioDevices(t);
  if (devs.length === 0 || r.chance(0.4)) return [];
  const n = r.weighted([[3, 1], [1, 2]] as const);
  return Array.from({ length: n }, (_, i) => generateProcess(r, r.pick(devs), `qemu${i}`));
}
