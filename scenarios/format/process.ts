import type { Topology } from '../../protocol/topology.ts';
import type { ProcIoctl, ProcOp, ProcessSpec, RequestPolicy, VfioIommuType } from '../../protocol/vfio.ts';
import { findOp } from './ops.ts';
import type { FieldType } from './ops.ts';
import { checkField, readTaskOp } from './reader.ts';
import type { Obj, Reader } from './reader.ts';

/**
 * Userspace processes in a scenario document (`processes`): VFIO users such
 * as QEMU, each a program of ops run in order in its own task (the
 * ProcessSpec of protocol/vfio.ts; docs/vfio.md "Userspace processes").
 *
 *   { "name": "qemu", "onRequest": "close", "stay": false,
 *     "ops": [ { "op": "vfio.group.open", "dev": "0000:02:00.0", "as": "group" },
 *              { "op": "vfio.container.open", "as": "container" },
 *              { "op": "ioctl", "fd": "group", "cmd": "VFIO_GROUP_SET_CONTAINER", "container": "container" },
 *              { "op": "driver.unbind", "dev": "0000:02:00.1", "driver": "nic" } ] }
 *
 * A task op (`driver.unbind`, `pci.reset_function`, ...) in a process is a
 * sysfs write the process makes. An `fd` field must name an fd an earlier op
 * of the same process opened (a typo would otherwise run as -EBADF).
 */

/** Field types of process ops besides the task ops' ones. */
export type ProcFieldType = FieldType | 'fd' | 'fds' | 'iommu-type' | 'irq-index';

export interface ProcOpSpec {
  readonly name: string;
  readonly summary: string;
  readonly fields: Readonly<Record<string, ProcFieldType>>;
}

const IOMMU_TYPES: readonly VfioIommuType[] = ['VFIO_TYPE1_IOMMU', 'VFIO_TYPE1v2_IOMMU', 'VFIO_SPAPR_TCE_IOMMU'];
const REQUEST_POLICIES: readonly RequestPolicy[] = ['close', 'ignore'];

export const PROCESS_OPS: readonly ProcOpSpec[] = [
  { name: 'vfio.group.open', summary: 'open /dev/vfio/$GROUP, the group `dev` is in (readlink /sys/bus/pci/devices/<dev>/iommu_group); the fd is named `as`', fields: { dev: 'dev', as: 'string' } },
  { name: 'vfio.container.open', summary: 'open /dev/vfio/vfio (a legacy container); the fd is named `as`', fields: { as: 'string' } },
  { name: 'vfio.cdev.open', summary: 'open /dev/vfio/devices/vfioN of `dev` (the cdev path); the fd is named `as`', fields: { dev: 'dev', as: 'string' } },
  { name: 'iommufd.open', summary: 'open /dev/iommu; the fd is named `as`', fields: { as: 'string' } },
  { name: 'fd.close', summary: 'close(2) the fd `fd` (the last reference runs ->release)', fields: { fd: 'fd' } },
  { name: 'ioctl', summary: 'an ioctl `cmd` on `fd` with the command\'s fields (see the ioctl list); `as` names its result', fields: { fd: 'fd', cmd: 'string', 'as?': 'string' } },
  { name: 'vfio.dma', summary: 'the device behind device fd `fd` DMAs at `iova` (optionally on `pasid`; `write` defaults to true)', fields: { fd: 'fd', iova: 'number', 'pasid?': 'number', 'write?': 'bool' } },
  { name: 'proc.post', summary: 'post the userspace event `event` (a pipe write another process waits for)', fields: { event: 'string' } },
  { name: 'proc.wait', summary: 'wait until `event` is posted', fields: { event: 'string' } },
  { name: 'proc.exit', summary: 'exit(2): the exiting task closes the fd table in ascending fd order, then runs the releases (last queued first); later ops do not run', fields: {} },
  { name: 'proc.close_all', summary: 'every open fd closed by a thread of its own, concurrently (the scheduler picks the order)', fields: {} },
  { name: 'proc.yield', summary: 'a preemption point', fields: {} },
];

/** The ioctls an `ioctl` op may make, with their fields (protocol/vfio.ts ProcIoctl). */
export const IOCTLS: Readonly<Record<ProcIoctl['cmd'], { readonly summary: string; readonly fields: Readonly<Record<string, ProcFieldType>> }>> = {
  VFIO_GROUP_GET_STATUS: { summary: 'group fd: viable / container_set', fields: {} },
  VFIO_GROUP_SET_CONTAINER: { summary: 'group fd: join the container (or iommufd) fd `container`; the group\'s DMA ownership is claimed', fields: { container: 'fd' } },
  VFIO_GROUP_UNSET_CONTAINER: { summary: 'group fd: leave the container', fields: {} },
  VFIO_GROUP_GET_DEVICE_FD: { summary: 'group fd: a device fd for `dev`, named `as` (default: the device name)', fields: { dev: 'dev' } },
  VFIO_SET_IOMMU: { summary: 'container fd: pick the backend (default VFIO_TYPE1v2_IOMMU)', fields: { 'type?': 'iommu-type' } },
  VFIO_IOMMU_MAP_DMA: { summary: 'container (or iommufd compat) fd: map the process page `vaddr` at `iova`', fields: { iova: 'number', vaddr: 'number' } },
  VFIO_IOMMU_UNMAP_DMA: { summary: 'container fd: unmap `iova`', fields: { iova: 'number' } },
  VFIO_DEVICE_BIND_IOMMUFD: { summary: 'cdev fd: bind to the iommufd fd `iommufd`; `as` names the devid', fields: { iommufd: 'fd' } },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { summary: 'cdev fd: attach to the IOAS/HWPT `pt` (a result name), optionally on `pasid`', fields: { pt: 'string', 'pasid?': 'number' } },
  VFIO_DEVICE_DETACH_IOMMUFD_PT: { summary: 'cdev fd: detach (optionally only `pasid`)', fields: { 'pasid?': 'number' } },
  VFIO_DEVICE_RESET: { summary: 'device fd: a function reset', fields: {} },
  VFIO_DEVICE_PCI_HOT_RESET: { summary: 'device fd: a bus/slot reset proving ownership with the group fds `groups`', fields: { 'groups?': 'fds' } },
  VFIO_DEVICE_SET_IRQS: { summary: 'device fd: the device-request eventfd (index REQ)', fields: { index: 'irq-index' } },
  IOMMU_IOAS_ALLOC: { summary: 'iommufd fd: a new IOAS, named `as`', fields: {} },
  IOMMU_IOAS_MAP: { summary: 'iommufd fd: map the process page `vaddr` at `iova` in IOAS `ioas`', fields: { ioas: 'string', iova: 'number', vaddr: 'number' } },
  IOMMU_IOAS_UNMAP: { summary: 'iommufd fd: unmap `iova` from IOAS `ioas`', fields: { ioas: 'string', iova: 'number' } },
  IOMMU_HWPT_ALLOC: { summary: 'iommufd fd: a HWPT_PAGING for `devid` on `pt` (`pasid`: IOMMU_HWPT_ALLOC_PASID), named `as`', fields: { devid: 'string', pt: 'string', 'pasid?': 'bool' } },
  IOMMU_DESTROY: { summary: 'iommufd fd: destroy the object `id`', fields: { id: 'string' } },
};

const IOCTL_CMDS = Object.keys(IOCTLS) as ProcIoctl['cmd'][];

/** What one process has named so far: fds, for the `fd` checks. */
class Names {
  readonly fds: string[] = [];

  fd(r: Reader, v: unknown, where: string): string {
    const fd = r.str(v, where);
    if (!this.fds.includes(fd)) r.fail(where, `fd "${fd}" is not opened by an earlier op of this process (fds so far: ${this.fds.join(', ') || 'none'})`);
    return fd;
  }

  open(name: string): void {
    if (!this.fds.includes(name)) this.fds.push(name);
  }
}

function checkProcFields(r: Reader, t: Topology, names: Names, o: Obj, where: string, what: string, fields: Readonly<Record<string, ProcFieldType>>, extra: readonly string[]): void {
  r.keys(o, where, [...extra, ...Object.keys(fields).map((f) => f.replace(/\?$/, ''))]);
  for (const [field, type] of Object.entries(fields)) {
    const key = field.replace(/\?$/, '');
    const w = `${where}.${key}`;
    if (o[key] === undefined) {
      if (!field.endsWith('?')) r.fail(w, `${what} needs "${key}"`);
      continue;
    }
    switch (type) {
      case 'fd': names.fd(r, o[key], w); break;
      case 'fds': r.arr(o[key], w).forEach((x, i) => names.fd(r, x, `${w}[${i}]`)); break;
      case 'iommu-type': r.oneOf(o[key], w, IOMMU_TYPES); break;
      case 'irq-index': r.oneOf(o[key], w, ['REQ']); break;
      default: checkField(r, t, type, o[key], w);
    }
  }
}

const PROC_OP_NAMES = PROCESS_OPS.map((p) => p.name);
const RAW_PROC_OPS: readonly string[] = ['open', 'close', 'ioctl', 'dma', 'sysfs', 'post', 'wait', 'exit', 'close_all', 'yield'];

/** One process op, checked and compiled to the ProcOp the process actor runs. */
function readProcOp(r: Reader, t: Topology, names: Names, o: Obj, where: string): ProcOp {
  // The process actor's own op form ({ "do": "open", ... }), as stress writes its rounds' replays:
  // taken as it is (the actor checks it at run time), so a machine-written document replays unchanged.
  if (o.op === undefined && typeof o.do === 'string' && RAW_PROC_OPS.includes(o.do)) {
    if (typeof o.as === 'string') names.open(o.as);
    return o as unknown as ProcOp;
  }
  const name = r.str(o.op, `${where}.op`);
  const spec = PROCESS_OPS.find((p) => p.name === name);
  if (spec === undefined) {
    // a kernel op a process makes through sysfs
    if (findOp(name) !== undefined) return { do: 'sysfs', call: readTaskOp(r, t, o, where) };
    r.fail(`${where}.op`, `unknown process op "${name}" (process ops: ${PROC_OP_NAMES.join(', ')}; or a task op, made as a sysfs write — see \`iommu-lab ops\`)`);
  }
  if (name !== 'ioctl') checkProcFields(r, t, names, o, where, `op ${name}`, spec.fields, ['op']);
  switch (name) {
    case 'vfio.group.open':
    case 'vfio.cdev.open': {
      names.open(o.as as string);
      return { do: 'open', path: { kind: name === 'vfio.group.open' ? 'group' : 'cdev', dev: o.dev as string }, as: o.as as string };
    }
    case 'vfio.container.open':
    case 'iommufd.open':
      names.open(o.as as string);
      return { do: 'open', path: { kind: name === 'iommufd.open' ? 'iommufd' : 'container' }, as: o.as as string };
    case 'fd.close':
      return { do: 'close', fd: o.fd as string };
    case 'ioctl':
      return readIoctl(r, t, names, o, where);
    case 'vfio.dma':
      return { do: 'dma', fd: o.fd as string, iova: o.iova as number, ...(o.pasid !== undefined ? { pasid: o.pasid as number } : {}), ...(o.write !== undefined ? { write: o.write as boolean } : {}) };
    case 'proc.post':
      return { do: 'post', event: o.event as string };
    case 'proc.wait':
      return { do: 'wait', event: o.event as string };
    case 'proc.exit':
      return { do: 'exit' };
    case 'proc.close_all':
      return { do: 'close_all' };
    default:
      return { do: 'yield' };
  }
}

function readIoctl(r: Reader, t: Topology, names: Names, o: Obj, where: string): ProcOp {
  const fd = names.fd(r, o.fd, `${where}.fd`);
  const cmd = r.str(o.cmd, `${where}.cmd`);
  if (!(IOCTL_CMDS as readonly string[]).includes(cmd)) r.fail(`${where}.cmd`, `unknown ioctl "${cmd}" (one of: ${IOCTL_CMDS.join(', ')})`);
  const c = cmd as ProcIoctl['cmd'];
  checkProcFields(r, t, names, o, where, `ioctl ${c}`, { ...IOCTLS[c].fields, 'as?': 'string' }, ['op', 'fd', 'cmd']);
  const { op: _op, fd: _fd, cmd: _cmd, as, ...args } = o;
  if (c === 'VFIO_GROUP_GET_DEVICE_FD') names.open(typeof as === 'string' ? as : (args.dev as string));
  const ioctl = { cmd: c, ...args } as ProcIoctl;
  return typeof as === 'string' ? { do: 'ioctl', fd, ioctl, as } : { do: 'ioctl', fd, ioctl };
}

/** The document's `processes`, checked and compiled to ProcessSpecs. */
export function readProcesses(r: Reader, v: unknown, t: Topology, taskNames: ReadonlySet<string>): ProcessSpec[] {
  const seen = new Set<string>();
  return r.arr(v ?? [], 'processes').map((p, i) => {
    const w = `processes[${i}]`;
    const o = r.obj(p, w);
    r.keys(o, w, ['name', 'ops', 'onRequest', 'stay']);
    const name = r.str(o.name, `${w}.name`);
    if (seen.has(name)) r.fail(`${w}.name`, `process name "${name}" is used twice`);
    if (taskNames.has(`proc:${name}`)) r.fail(`${w}.name`, `process "${name}" runs as task "proc:${name}", which a task already is`);
    seen.add(name);
    const names = new Names();
    const ops = r.arr(o.ops, `${w}.ops`).map((op, j) => readProcOp(r, t, names, r.obj(op, `${w}.ops[${j}]`), `${w}.ops[${j}]`));
    const onRequest = o.onRequest === undefined ? undefined : r.oneOf(o.onRequest, `${w}.onRequest`, REQUEST_POLICIES);
    const stay = o.stay === undefined ? undefined : r.bool(o.stay, `${w}.stay`);
    return { name, ops, ...(onRequest !== undefined ? { onRequest } : {}), ...(stay !== undefined ? { stay } : {}) };
  });
}
