import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FindingKind } from '../../protocol/findings.ts';
import type { ProcOp } from '../../protocol/vfio.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import {
  attachPt, bind, bindIommufd, cdevPath, close, detachPt, dma, getDeviceFd, groupPath, ioasAlloc, ioasMap, ioctl, isErrName, makeHost, mapDma,
  openCdev, openContainer, openGroup, openIommufd, post, procResults, runOn, setContainer, setIommu, setReq, sysfs, unbind, unexpected, vfioProgram, wait,
} from './helpers.ts';
import type { VfioRun } from './helpers.ts';
import { DRIVER_CORE } from '../../protocol/kernel.ts';
import { EP, FN0, FN1, FN2, FREE, KFN1, NOIOMMU, NORESET, RMRR, ROOT, SA, SB } from './topology.ts';

/**
 * Every VFIO and iommufd ioctl's refusals with the errnos of
 * docs/kernel-facts.md §4, table-driven, in both hosts. Each case boots the
 * test machine (test/vfio/topology.ts) and runs process `a`'s program (and
 * `b`'s, a second process that unbinds or binds drivers through sysfs, in
 * order with `a` through post/wait events); `want` has one entry per op of
 * `a`: 'ok' (any value that is not an errno), an errno name, a value, or a
 * predicate. No finding is allowed unless the case names its kind.
 *
 * One host per kind serves every case (fresh state for each execution): the
 * program's actors are the same for all of them, only the tasks differ.
 */

type Want = 'ok' | string | number | ((v: unknown) => boolean);

interface Case {
  readonly name: string;
  readonly a: readonly ProcOp[];
  readonly b?: readonly ProcOp[];
  readonly want: readonly Want[];
  readonly findings?: readonly FindingKind[];
  readonly check?: (r: VfioRun) => void;
}

const ok: Want = 'ok';
const status = (viable: boolean, containerSet: boolean): Want => (v) => JSON.stringify(v) === JSON.stringify({ viable, container_set: containerSet });
const outcome = (o: string): Want => (v) => typeof v === 'object' && v !== null && (v as { outcome?: unknown }).outcome === o;
/** `groupPath(dev)`'s five results: group fd, container fd, SET_CONTAINER, SET_IOMMU, device fd. */
const GROUP_OK: readonly Want[] = [ok, ok, 0, 0, ok];
/** `cdevPath(dev)`'s five results: iommufd, cdev fd, devid, IOAS id, HWPT id. */
const CDEV_OK: readonly Want[] = [ok, ok, ok, ok, ok];
const hwptAlloc = (devid: string, pt: string, pasid?: boolean): ProcOp => ioctl('iommufd', pasid === undefined ? { cmd: 'IOMMU_HWPT_ALLOC', devid, pt } : { cmd: 'IOMMU_HWPT_ALLOC', devid, pt, pasid }, undefined);
const hwptAllocAs = (as: string, devid: string, pt: string, pasid?: boolean): ProcOp =>
  ioctl('iommufd', pasid === undefined ? { cmd: 'IOMMU_HWPT_ALLOC', devid, pt } : { cmd: 'IOMMU_HWPT_ALLOC', devid, pt, pasid }, as);
/** `b` unbinds `dev` once `a` posted "ready", then posts "gone". */
const unbindAfterReady = (dev: string): readonly ProcOp[] => [wait('ready'), unbind(dev), post('gone')];

const CASES: readonly Case[] = [
  // ---- open(/dev/vfio/$GROUP): vfio_group_fops_open (§4.1.1) ----------------------------------
  { name: 'open group: a device without a VFIO driver has no /dev/vfio node', a: [openGroup(FREE)], want: ['ENOENT'] },
  { name: 'open group: a device behind no IOMMU has no iommu group (vfio-pci probe failed)', a: [openGroup(NOIOMMU)], want: ['ENOENT'] },
  { name: 'open group: a second opener -EBUSY', a: [openGroup(EP), openGroup(EP, 'again')], want: [ok, 'EBUSY'] },
  { name: 'open group: a sibling of the same iommu group names the same node -EBUSY', a: [openGroup(FN0), openGroup(FN1, 'again')], want: [ok, 'EBUSY'] },
  { name: 'open group: a device of the group bound through its cdev -EBUSY', a: [openIommufd(), openCdev(FN0), bindIommufd(), openGroup(FN1)], want: [ok, ok, ok, 'EBUSY'] },
  { name: 'open group: after the last device was unbound the node is gone', a: [post('ready'), wait('gone'), openGroup(EP)], b: unbindAfterReady(EP), want: [0, 0, 'ENOENT'] },
  // ---- VFIO_GROUP_GET_STATUS (§4.1.2) -------------------------------------------------------------
  { name: 'GET_STATUS: free group is viable', a: [openGroup(EP), ioctl('group', { cmd: 'VFIO_GROUP_GET_STATUS' })], want: [ok, status(true, false)] },
  { name: 'GET_STATUS: a sibling bound to a kernel driver: not viable', a: [openGroup(KFN1), ioctl('group', { cmd: 'VFIO_GROUP_GET_STATUS' })], want: [ok, status(false, false)] },
  { name: 'GET_STATUS: a group fd that outlives its devices -ENODEV', a: [openGroup(EP), post('ready'), wait('gone'), ioctl('group', { cmd: 'VFIO_GROUP_GET_STATUS' })], b: unbindAfterReady(EP), want: [ok, 0, 0, 'ENODEV'] },
  { name: 'GET_STATUS on a container fd without a backend -EINVAL (vfio_fops_unl_ioctl default)', a: [openContainer(), ioctl('container', { cmd: 'VFIO_GROUP_GET_STATUS' })], want: [ok, 'EINVAL'] },
  { name: 'GET_STATUS on a container fd with type1 -ENOTTY (the backend does not know it)', a: [...groupPath(EP), ioctl('container', { cmd: 'VFIO_GROUP_GET_STATUS' })], want: [...GROUP_OK, 'ENOTTY'] },
  { name: 'GET_STATUS on a device fd -ENOTTY (vfio_pci_core_ioctl default)', a: [...groupPath(EP), ioctl('device', { cmd: 'VFIO_GROUP_GET_STATUS' })], want: [...GROUP_OK, 'ENOTTY'] },
  {
    name: 'GET_STATUS: iommufd compat is VIABLE, yet GET_DEVICE_FD fails on ownership (-EPERM)',
    a: [openGroup(KFN1), openIommufd(), ioctl('group', { cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'iommufd' }), ioctl('group', { cmd: 'VFIO_GROUP_GET_STATUS' }), getDeviceFd(KFN1)],
    want: [ok, ok, 0, status(true, true), 'EPERM'],
  },
  // ---- VFIO_GROUP_SET_CONTAINER (§4.1.3) ----------------------------------------------------------
  { name: 'SET_CONTAINER: an fd the process does not have -EBADF', a: [openGroup(EP), setContainer('group', 'nosuch')], want: [ok, 'EBADF'] },
  { name: 'SET_CONTAINER: an fd that is neither a container nor an iommufd -EBADFD', a: [openGroup(EP), openGroup(FN0, 'other'), setContainer('group', 'other')], want: [ok, ok, 'EBADFD'] },
  { name: 'SET_CONTAINER: a container already set -EINVAL', a: [openGroup(EP), openContainer(), setContainer(), setContainer()], want: [ok, ok, 0, 'EINVAL'] },
  { name: 'SET_CONTAINER: a sibling bound to a kernel driver -EPERM', a: [openGroup(KFN1), openContainer(), setContainer()], want: [ok, ok, 'EPERM'] },
  { name: 'SET_CONTAINER: a require_direct (RMRR) device refuses the blocking domain -EINVAL', a: [openGroup(RMRR), openContainer(), setContainer()], want: [ok, ok, 'EINVAL'], findings: ['kernel-warn'] },
  {
    name: 'SET_CONTAINER: a kernel module has a private domain attached (not the default domain) -EBUSY',
    a: [wait('ready'), openGroup(FREE), openContainer(), setContainer()],
    b: [sysfs(DRIVER_CORE, 'module_call', { module: 'm', actions: [{ do: 'iommu_paging_domain_alloc', dev: FREE, as: 'd' }, { do: 'iommu_attach_device', dev: FREE, domain: 'd' }] }), bind(FREE, 'vfio-pci'), post('ready')],
    want: [0, ok, ok, 'EBUSY'],
  },
  { name: 'SET_CONTAINER: the group was revoked (its devices are gone) -ENODEV', a: [openGroup(EP), openContainer(), post('ready'), wait('gone'), setContainer()], b: unbindAfterReady(EP), want: [ok, ok, 0, 0, 'ENODEV'] },
  // ---- VFIO_GROUP_UNSET_CONTAINER -----------------------------------------------------------------
  { name: 'UNSET_CONTAINER: nothing set -EINVAL', a: [openGroup(EP), ioctl('group', { cmd: 'VFIO_GROUP_UNSET_CONTAINER' })], want: [ok, 'EINVAL'] },
  { name: 'UNSET_CONTAINER: a device fd still open -EBUSY', a: [...groupPath(EP), ioctl('group', { cmd: 'VFIO_GROUP_UNSET_CONTAINER' })], want: [...GROUP_OK, 'EBUSY'] },
  // ---- VFIO_SET_IOMMU (§4.1.4) ----------------------------------------------------------------------
  { name: 'SET_IOMMU: a container without groups -EINVAL', a: [openContainer(), setIommu()], want: [ok, 'EINVAL'] },
  { name: 'SET_IOMMU: a backend already set -EINVAL', a: [openGroup(EP), openContainer(), setContainer(), setIommu(), setIommu()], want: [ok, ok, 0, 0, 'EINVAL'] },
  { name: 'SET_IOMMU: no backend for the type -ENODEV', a: [openGroup(EP), openContainer(), setContainer(), ioctl('container', { cmd: 'VFIO_SET_IOMMU', type: 'VFIO_SPAPR_TCE_IOMMU' })], want: [ok, ok, 0, 'ENODEV'] },
  { name: 'SET_IOMMU on a group fd -ENOTTY', a: [openGroup(EP), ioctl('group', { cmd: 'VFIO_SET_IOMMU' })], want: [ok, 'ENOTTY'] },
  // ---- VFIO_IOMMU_MAP_DMA / UNMAP_DMA (type1) ---------------------------------------------------------
  { name: 'MAP_DMA: no backend yet -EINVAL', a: [openGroup(EP), openContainer(), setContainer(), mapDma(0x1000, 1)], want: [ok, ok, 0, 'EINVAL'] },
  { name: 'MAP_DMA: the IOVA is mapped already -EEXIST', a: [...groupPath(EP), mapDma(0x1000, 1), mapDma(0x1000, 2)], want: [...GROUP_OK, 0, 'EEXIST'] },
  { name: 'UNMAP_DMA: nothing there unmaps 0 bytes', a: [...groupPath(EP), ioctl('container', { cmd: 'VFIO_IOMMU_UNMAP_DMA', iova: 0x5000 })], want: [...GROUP_OK, 0] },
  // ---- VFIO_GROUP_GET_DEVICE_FD (§4.1.5) --------------------------------------------------------------
  { name: 'GET_DEVICE_FD: no container set -EINVAL', a: [openGroup(EP), getDeviceFd(EP)], want: [ok, 'EINVAL'] },
  { name: 'GET_DEVICE_FD: a container without a backend -EINVAL', a: [openGroup(EP), openContainer(), setContainer(), getDeviceFd(EP)], want: [ok, ok, 0, 'EINVAL'] },
  { name: 'GET_DEVICE_FD: a device that is not in the group -ENODEV', a: [openGroup(EP), openContainer(), setContainer(), setIommu(), getDeviceFd(FN0)], want: [ok, ok, 0, 0, 'ENODEV'] },
  { name: 'GET_DEVICE_FD: a member without a VFIO driver -ENODEV', a: [openGroup(FN0), openContainer(), setContainer(), setIommu(), getDeviceFd(FN2)], want: [ok, ok, 0, 0, 'ENODEV'] },
  { name: 'GET_DEVICE_FD: the device was unbound -ENODEV', a: [openGroup(EP), openContainer(), setContainer(), setIommu(), post('ready'), wait('gone'), getDeviceFd(EP)], b: unbindAfterReady(EP), want: [ok, ok, 0, 0, 0, 0, 'ENODEV'] },
  // ---- open(/dev/vfio/devices/vfioN) (§4.2.1) ---------------------------------------------------------
  { name: 'open cdev: a device without a VFIO driver has no node', a: [openCdev(FREE)], want: ['ENOENT'] },
  { name: 'open cdev: after unbind the node is gone', a: [post('ready'), wait('gone'), openCdev(EP)], b: unbindAfterReady(EP), want: [0, 0, 'ENOENT'] },
  // ---- VFIO_DEVICE_BIND_IOMMUFD (§4.2.2) --------------------------------------------------------------
  { name: 'BIND_IOMMUFD: a group-path device fd -EINVAL', a: [...groupPath(EP), openIommufd(), bindIommufd()], want: [...GROUP_OK, ok, 'EINVAL'] },
  { name: 'BIND_IOMMUFD: the group fd is open -EBUSY', a: [openGroup(FN0), openIommufd(), openCdev(FN1), bindIommufd()], want: [ok, ok, ok, 'EBUSY'] },
  { name: 'BIND_IOMMUFD: bound already -EINVAL', a: [openIommufd(), openCdev(EP), bindIommufd(), bindIommufd()], want: [ok, ok, ok, 'EINVAL'] },
  { name: 'BIND_IOMMUFD: a container fd is not an iommufd -EBADFD', a: [openContainer(), openCdev(EP), bindIommufd('device', 'container')], want: [ok, ok, 'EBADFD'] },
  { name: 'BIND_IOMMUFD: an fd the process does not have -EBADF', a: [openCdev(EP), bindIommufd('device', 'nosuch')], want: [ok, 'EBADF'] },
  { name: 'BIND_IOMMUFD: a second cdev fd of an open device -EINVAL (cdev is exclusive)', a: [openIommufd(), openCdev(EP), bindIommufd(), openCdev(EP, 'd2'), bindIommufd('d2')], want: [ok, ok, ok, ok, 'EINVAL'] },
  { name: 'BIND_IOMMUFD: a sibling bound to a kernel driver -EPERM', a: [openIommufd(), openCdev(KFN1), bindIommufd()], want: [ok, ok, 'EPERM'] },
  { name: 'BIND_IOMMUFD: another iommufd owns the group -EPERM', a: [openIommufd(), openIommufd('ictx2'), openCdev(FN0), bindIommufd(), openCdev(FN1, 'd2'), bindIommufd('d2', 'ictx2')], want: [ok, ok, ok, ok, ok, 'EPERM'] },
  { name: 'BIND_IOMMUFD: the same iommufd shares the group', a: [openIommufd(), openCdev(FN0), bindIommufd(), openCdev(FN1, 'd2'), bindIommufd('d2', 'iommufd', 'devid2')], want: [ok, ok, ok, ok, ok] },
  { name: 'BIND_IOMMUFD: a require_direct (RMRR) device -EINVAL', a: [openIommufd(), openCdev(RMRR), bindIommufd()], want: [ok, ok, 'EINVAL'], findings: ['kernel-warn'] },
  // ---- VFIO_DEVICE_ATTACH_IOMMUFD_PT / DETACH (§4.2.3–4) ---------------------------------------------
  { name: 'ATTACH_PT: before BIND_IOMMUFD (no access) -EINVAL', a: [openIommufd(), openCdev(EP), ioasAlloc(), attachPt()], want: [ok, ok, ok, 'EINVAL'] },
  { name: 'ATTACH_PT: a group-path fd -ENOTTY', a: [...groupPath(EP), attachPt('x')], want: [...GROUP_OK, 'ENOTTY'] },
  { name: 'ATTACH_PT: an unknown object -ENOENT', a: [openIommufd(), openCdev(EP), bindIommufd(), attachPt('nosuch')], want: [ok, ok, ok, 'ENOENT'] },
  { name: 'ATTACH_PT: a device object is not a page table -EINVAL', a: [openIommufd(), openCdev(EP), bindIommufd(), attachPt('devid')], want: [ok, ok, ok, 'EINVAL'] },
  { name: 'ATTACH_PT: a PASID on a device without PASIDs -EINVAL', a: [openIommufd(), openCdev(FN1), bindIommufd(), ioasAlloc(), attachPt('ioas', 'device', 1)], want: [ok, ok, ok, ok, 'EINVAL'] },
  {
    name: 'ATTACH_PT: a PASID beside a RID HWPT that is not PASID-compatible -EINVAL',
    a: [openIommufd(), openCdev(EP), bindIommufd(), ioasAlloc(), hwptAllocAs('h1', 'devid', 'ioas'), hwptAllocAs('h2', 'devid', 'ioas', true), attachPt('h1'), attachPt('h2', 'device', 1)],
    want: [ok, ok, ok, ok, ok, ok, ok, 'EINVAL'],
  },
  { name: 'ATTACH_PT: the same PASID twice -EBUSY', a: [...cdevPath(EP), attachPt('ioas', 'device', 1), attachPt('ioas', 'device', 1)], want: [...CDEV_OK, ok, 'EBUSY'] },
  {
    name: 'ATTACH_PT: a device of the group on another HWPT than its sibling -EINVAL',
    a: [openIommufd(), openCdev(FN0), bindIommufd(), openCdev(FN1, 'd2'), bindIommufd('d2', 'iommufd', 'devid2'), ioasAlloc(),
      hwptAllocAs('h0', 'devid', 'ioas'), hwptAllocAs('h1', 'devid2', 'ioas'), attachPt('h0'), attachPt('h1', 'd2')],
    want: [ok, ok, ok, ok, ok, ok, ok, ok, ok, 'EINVAL'],
  },
  {
    name: 'ATTACH_PT: replacing the RID with a non-PASID HWPT while a PASID is attached -EINVAL',
    a: [...cdevPath(EP), attachPt('ioas', 'device', 1), hwptAllocAs('plain', 'devid', 'ioas'), attachPt('plain')],
    want: [...CDEV_OK, ok, ok, 'EINVAL'],
  },
  { name: 'DETACH_PT: nothing attached is a no-op', a: [openIommufd(), openCdev(EP), bindIommufd(), detachPt()], want: [ok, ok, ok, 0] },
  // ---- VFIO_DEVICE_RESET / VFIO_DEVICE_PCI_HOT_RESET (§4.3) ------------------------------------------
  { name: 'DEVICE_RESET: a device without a reset method -EINVAL', a: [...groupPath(NORESET), ioctl('device', { cmd: 'VFIO_DEVICE_RESET' })], want: [...GROUP_OK, 'EINVAL'] },
  { name: 'DEVICE_RESET: a cdev fd before BIND_IOMMUFD -EINVAL', a: [openCdev(EP), ioctl('device', { cmd: 'VFIO_DEVICE_RESET' })], want: [ok, 'EINVAL'] },
  { name: 'HOT_RESET: a group-path fd with no group fds listed -EINVAL', a: [...groupPath(EP), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET' })], want: [...GROUP_OK, 'EINVAL'] },
  { name: 'HOT_RESET: a cdev fd that lists group fds -EINVAL', a: [...cdevPath(EP), openGroup(ROOT), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group'] })], want: [...CDEV_OK, ok, 'EINVAL'] },
  { name: 'HOT_RESET: a device on a root bus has no slot or bus reset -ENODEV', a: [...groupPath(ROOT), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group'] })], want: [...GROUP_OK, 'ENODEV'] },
  { name: 'HOT_RESET: a listed fd that is not a group -EINVAL', a: [...groupPath(EP), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['container'] })], want: [...GROUP_OK, 'EINVAL'] },
  { name: 'HOT_RESET: a device of the bus not bound to vfio-pci -EINVAL', a: [...groupPath(FN0), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group'] })], want: [...GROUP_OK, 'EINVAL'] },
  { name: 'HOT_RESET: the caller owns every device of the set', a: [...groupPath(EP), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group'] })], want: [...GROUP_OK, 0] },
  {
    name: 'HOT_RESET: another process has a device of the set open -EINVAL',
    a: [wait('ready'), ...groupPath(SA), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group'] }), post('done')], b: [...groupPath(SB), post('ready'), wait('done')],
    want: [0, ...GROUP_OK, 'EINVAL', 0],
  },
  {
    name: 'HOT_RESET: the same process lists both groups of the set',
    a: [...groupPath(SA), openGroup(SB, 'g2'), setContainer('g2'), getDeviceFd(SB, 'g2', 'd2'), ioctl('device', { cmd: 'VFIO_DEVICE_PCI_HOT_RESET', groups: ['group', 'g2'] })],
    want: [...GROUP_OK, ok, 0, ok, 0],
  },
  // ---- other device fd ops -------------------------------------------------------------------------------
  { name: 'SET_IRQS: a cdev fd before BIND_IOMMUFD -EINVAL', a: [openCdev(EP), setReq()], want: [ok, 'EINVAL'] },
  { name: 'device DMA: a cdev fd before BIND_IOMMUFD -EINVAL', a: [openCdev(EP), dma('device', 0x1000)], want: [ok, 'EINVAL'] },
  { name: 'device DMA: an unmapped IOVA faults in the user domain', a: [...groupPath(EP), dma('device', 0x9000)], want: [...GROUP_OK, outcome('fault')] },
  // ---- iommufd ---------------------------------------------------------------------------------------------
  { name: 'IOAS_MAP: an unknown IOAS -ENOENT', a: [openIommufd(), ioasMap(0x1000, 1, 'nosuch')], want: [ok, 'ENOENT'] },
  { name: 'IOAS_MAP: the IOVA is mapped already -EEXIST', a: [openIommufd(), ioasAlloc(), ioasMap(0x1000, 1), ioasMap(0x1000, 2)], want: [ok, ok, 0, 'EEXIST'] },
  { name: 'IOAS_UNMAP: nothing there -ENOENT', a: [openIommufd(), ioasAlloc(), ioctl('iommufd', { cmd: 'IOMMU_IOAS_UNMAP', ioas: 'ioas', iova: 0x1000 })], want: [ok, ok, 'ENOENT'] },
  { name: 'IOMMU_DESTROY: an IOAS with a HWPT on it -EBUSY', a: [...cdevPath(EP), ioctl('iommufd', { cmd: 'IOMMU_DESTROY', id: 'ioas' })], want: [...CDEV_OK, 'EBUSY'] },
  { name: 'IOMMU_DESTROY: a device bound by VFIO -EBUSY', a: [openIommufd(), openCdev(EP), bindIommufd(), ioctl('iommufd', { cmd: 'IOMMU_DESTROY', id: 'devid' })], want: [ok, ok, ok, 'EBUSY'] },
  { name: 'IOMMU_HWPT_ALLOC: an unknown device -ENOENT', a: [openIommufd(), ioasAlloc(), hwptAlloc('nosuch', 'ioas')], want: [ok, ok, 'ENOENT'] },
  { name: 'IOMMU_IOAS_ALLOC on a container fd without a backend -EINVAL', a: [openContainer(), ioasAlloc('ioas', 'container')], want: [ok, 'EINVAL'] },
  { name: 'VFIO_GROUP_GET_DEVICE_FD on an iommufd -ENOTTY', a: [openIommufd(), getDeviceFd(EP, 'iommufd')], want: [ok, 'ENOTTY'] },
  // ---- fds, and the kernel's refusals around a user-owned group --------------------------------------------
  { name: 'close: twice -EBADF', a: [openContainer(), close('container'), close('container')], want: [ok, 0, 'EBADF'] },
  { name: 'ioctl on a closed fd -EBADF', a: [openGroup(EP), close('group'), ioctl('group', { cmd: 'VFIO_GROUP_GET_STATUS' })], want: [ok, 0, 'EBADF'] },
  {
    name: 'sysfs bind of a kernel driver into a user-owned group is refused (-EBUSY, iommu_device_use_default_domain)',
    a: [openGroup(FN0), openContainer(), setContainer(), post('ready'), wait('gone')], b: [wait('ready'), bind(FN2, 'nic'), post('gone')], want: [ok, ok, 0, 0, 0],
    check: (r) => expect(procResults(r, 'b')).toEqual([0, 'EBUSY', 0]),
  },
];

function matches(want: Want, got: unknown): boolean {
  if (typeof want === 'function') return want(got);
  if (want === 'ok') return got !== undefined && !isErrName(got);
  return got === want;
}

describe.each(['inline', 'workers'] as const)('VFIO and iommufd refusals (%s host)', (kind) => {
  let host: Host;
  const program = (c: Case) => vfioProgram({ name: 'refusals', processes: [{ name: 'a', ops: c.a }, { name: 'b', ops: c.b ?? [] }] });

  beforeAll(async () => {
    host = await makeHost(program(CASES[0] as Case), kind);
  });
  afterAll(async () => {
    await host.close();
  });

  it('has at least 40 refusal cases', () => {
    expect(CASES.filter((c) => c.want.some((w) => typeof w === 'string' && w.startsWith('E'))).length).toBeGreaterThanOrEqual(40);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const run = await runOn(host, program(c), { seed: 1 });
      expect(run.result.outcome, unexpected(run.result.findings).join('\n')).toBe('completed');
      const got = procResults(run, 'a');
      expect(got.length, JSON.stringify(got)).toBe(c.want.length);
      c.want.forEach((w, i) => expect(matches(w, got[i]), `op ${i} of ${JSON.stringify(got)}`).toBe(true));
      expect(unexpected(run.result.findings, c.findings ?? [])).toEqual([]);
      for (const kindWanted of c.findings ?? []) expect(run.result.findings.map((f) => f.kind)).toContain(kindWanted);
      c.check?.(run);
    });
  }
});
