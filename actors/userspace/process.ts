import { defineActor } from '../../runtime/actor.ts';
import type { Kernel } from '../../runtime/actor.ts';
import { errno, isErrno } from '../../protocol/errno.ts';
import { BOOTED_COMPLETION } from '../../protocol/kernel.ts';
import { completionRef } from '../../protocol/lock-classes.ts';
import { actorId } from '../../protocol/ids.ts';
import { VFIO, processActor, userEvent, userPage } from '../../protocol/vfio.ts';
import type { ProcIoctl, ProcOp, ProcResult, ProcessConfig, ProcessMailbox, RequestPolicy } from '../../protocol/vfio.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * A userspace process (QEMU, a DPDK app, a test program) as a task source:
 * its program runs in its main task, one op after another (program order);
 * it owns fds that name files of the vfio actor, and everything it does to
 * the kernel is a syscall into that actor (open, close, ioctl, programming
 * the device to DMA).
 *
 * Concurrency inside the process: the device-request eventfd is served by a
 * task of its own (the kernel's signal arrives while the main task does
 * something else). exit(2) runs in the exiting task, as do_exit() does
 * (exitProcess); `close_all` closes every fd from a thread of its own.
 *
 * The process's own memory (its fd table, its named results) is userspace
 * state: plain data, not kernel objects, so the checkers do not look at it.
 */

interface ProcessState {
  readonly name: string;
  /** fd name → file id. */
  readonly fds: Record<string, string>;
  /** fd name → its number: the lowest free one at open (fs/file.c alloc_fd(); 0–2 are stdio). */
  readonly fdnum: Record<string, number>;
  /** Named results (devids, IOAS and HWPT ids). */
  readonly vars: Record<string, unknown>;
  onRequest: RequestPolicy;
  exited: boolean;
}

type PK = Kernel<ProcessState>;

const isErrName = (v: unknown): boolean => typeof v === 'string' && /^E[A-Z_0-9]+$/.test(v);

/** A name of a result, or the name itself when no result has it. */
function resolve(k: PK, name: string): string {
  const v = k.state.vars[name];
  return typeof v === 'string' ? v : name;
}

/** fdget() happens in the kernel, but an fd the process never had cannot name a file: null, which the kernel answers with -EBADF. */
const fileOf = (k: PK, fd: string): string | null => k.state.fds[fd] ?? null;

/** The vfio mailbox op and body of an ioctl as the process writes it. */
function ioctlCall(k: PK, file: string, io: ProcIoctl): { readonly op: string; readonly body: object } {
  const p = k.state.name;
  switch (io.cmd) {
    case 'VFIO_GROUP_GET_STATUS':
    case 'VFIO_GROUP_UNSET_CONTAINER':
    case 'VFIO_DEVICE_RESET':
    case 'IOMMU_IOAS_ALLOC':
      return { op: io.cmd, body: { file } };
    case 'VFIO_GROUP_SET_CONTAINER':
      return { op: io.cmd, body: { file, container: fileOf(k, io.container) } };
    case 'VFIO_GROUP_GET_DEVICE_FD':
      return { op: io.cmd, body: { file, dev: io.dev } };
    case 'VFIO_SET_IOMMU':
      return { op: io.cmd, body: { file, type: io.type ?? 'VFIO_TYPE1v2_IOMMU' } };
    case 'VFIO_IOMMU_MAP_DMA':
      return { op: io.cmd, body: { file, iova: io.iova, page: userPage(p, io.vaddr) } };
    case 'VFIO_IOMMU_UNMAP_DMA':
      return { op: io.cmd, body: { file, iova: io.iova } };
    case 'VFIO_DEVICE_BIND_IOMMUFD':
      return { op: io.cmd, body: { file, iommufd: fileOf(k, io.iommufd) } };
    case 'VFIO_DEVICE_ATTACH_IOMMUFD_PT':
      return { op: io.cmd, body: io.pasid === undefined ? { file, pt: resolve(k, io.pt) } : { file, pt: resolve(k, io.pt), pasid: io.pasid } };
    case 'VFIO_DEVICE_DETACH_IOMMUFD_PT':
      return { op: io.cmd, body: io.pasid === undefined ? { file } : { file, pasid: io.pasid } };
    case 'VFIO_DEVICE_PCI_HOT_RESET':
      return { op: io.cmd, body: { file, groups: (io.groups ?? []).map((g) => fileOf(k, g)) } };
    case 'VFIO_DEVICE_SET_IRQS':
      return { op: io.cmd, body: { file, index: io.index, proc: p } };
    case 'IOMMU_IOAS_MAP':
      return { op: io.cmd, body: { file, ioas: resolve(k, io.ioas), iova: io.iova, page: userPage(p, io.vaddr) } };
    case 'IOMMU_IOAS_UNMAP':
      return { op: io.cmd, body: { file, ioas: resolve(k, io.ioas), iova: io.iova } };
    case 'IOMMU_HWPT_ALLOC':
      return { op: io.cmd, body: io.pasid === undefined ? { file, devid: resolve(k, io.devid), pt: resolve(k, io.pt) } : { file, devid: resolve(k, io.devid), pt: resolve(k, io.pt), pasid: io.pasid } };
    case 'IOMMU_DESTROY':
      return { op: io.cmd, body: { file, id: resolve(k, io.id) } };
    case 'KVM_CREATE_DEVICE':
      return { op: io.cmd, body: { file, type: io.type ?? 'KVM_DEV_TYPE_VFIO' } };
    case 'KVM_SET_DEVICE_ATTR':
      // the attribute's addr points at an int holding the VFIO fd
      return { op: io.cmd, body: { file, attr: io.attr, vfio: fileOf(k, io.file) } };
  }
}

/** Puts a new file in the table under `fd`, at the lowest free fd number (alloc_fd(): find_next_fd from 0; 0–2 are stdio). */
const installFd = kfunc('install_fd', { actor: 'process', source: 'fs/open.c: install_fd' }, function installFd(k: PK, fd: string, file: string): void {
  const used = new Set(Object.values(k.state.fdnum));
  let n = 3;
  while (used.has(n)) n++;
  k.state.fds[fd] = file;
  k.state.fdnum[fd] = n;
});

/** close(2) of one fd: off the table, then the kernel drops the table's reference. */
const closeFd = kfunc('close_fd', { actor: 'process', source: 'fs/open.c: close_fd' }, async function closeFd(k: PK, fd: string): Promise<unknown> {
  const file = k.state.fds[fd];
  if (file === undefined) return errno('EBADF');
  delete k.state.fds[fd];
  delete k.state.fdnum[fd];
  return k.call(VFIO, 'fput', { file });
});

/**
 * exit(2), in the exiting task: do_exit() → exit_files() → close_files()
 * walks the fd table in ascending fd number and filp_close()s each file
 * (fs/file.c); filp_close() → fput() does not release a file in the task's
 * own context but queues ____fput() with task_work_add(), and
 * exit_task_work() runs the queue later in do_exit(). task_work_add()
 * pushes at the head and task_work_run() walks from the head
 * (kernel/task_work.c; FIFO order was dropped in c82199061009), so the
 * releases (->release: vfio_device_fops_release, vfio_group_fops_release,
 * ...) run last-closed first: descending fd number, one after the other.
 * VFIO's files have no ->flush, so the ascending walk itself shows nothing.
 */
const exitProcess = kfunc('do_exit', { actor: 'process', source: 'kernel/exit.c: do_exit' }, async function exitProcess(k: PK): Promise<void> {
  k.state.exited = true;
  const table = Object.keys(k.state.fds).sort((a, b) => (k.state.fdnum[a] as number) - (k.state.fdnum[b] as number));
  const queued: string[] = [];
  for (const fd of table) {
    // close_files(): the slot is cleared, filp_close() → fput() queues the release
    queued.push(k.state.fds[fd] as string);
    delete k.state.fds[fd];
    delete k.state.fdnum[fd];
  }
  // exit_task_work(): the last queued ____fput() first
  for (const file of queued.reverse()) await k.call(VFIO, 'fput', { file });
});

/** Every fd still open closed by a thread of its own, in an order the scheduler picks (the old `proc.exit`). */
const closeAllConcurrently = kfunc('close_all_concurrently', { actor: 'process', source: 'fs/open.c: close_all_concurrently' }, function closeAllConcurrently(k: PK): void {
  for (const fd of Object.keys(k.state.fds)) k.spawn(processActor(k.state.name), 'close_fd', { fd });
});

async function runOp(k: PK, op: ProcOp): Promise<unknown> {
  switch (op.do) {
    case 'open': {
      const r = await k.call(VFIO, 'open', { path: op.path, proc: k.state.name });
      if (typeof r === 'string') installFd(k, op.as, r);
      return r;
    }
    case 'close':
      return closeFd(k, op.fd);
    case 'ioctl': {
      const file = fileOf(k, op.fd);
      if (file === null) return errno('EBADF');
      const { op: name, body } = ioctlCall(k, file, op.ioctl);
      const r = await k.call(VFIO, name, body);
      if (typeof r === 'string' && !isErrName(r)) {
        if (op.ioctl.cmd === 'VFIO_GROUP_GET_DEVICE_FD') installFd(k, op.as ?? op.ioctl.dev, r);
        else if (op.ioctl.cmd === 'KVM_CREATE_DEVICE') installFd(k, op.as ?? 'kvm-vfio', r);
        else if (op.as !== undefined) k.state.vars[op.as] = r;
      }
      return r;
    }
    case 'dma': {
      const file = fileOf(k, op.fd);
      if (file === null) return errno('EBADF');
      return k.call(VFIO, 'device_dma', { file, iova: op.iova, ...(op.pasid !== undefined ? { pasid: op.pasid } : {}), write: op.write ?? true });
    }
    case 'sysfs':
      return k.call(actorId(op.call.to), op.call.op, op.call.body);
    case 'post':
      await k.complete_all(completionRef(userEvent(op.event)));
      return 0;
    case 'wait':
      await k.wait_for_completion(completionRef(userEvent(op.event)));
      return 0;
    case 'exit':
      if (!k.state.exited) await exitProcess(k);
      return 0;
    case 'close_all':
      closeAllConcurrently(k);
      return 0;
    case 'yield':
      await k.yield();
      return 0;
  }
}

export const userProcess = defineActor<ProcessState, ProcessMailbox>('process', {
  state: (config) => ({ name: (config as ProcessConfig).name, fds: {}, fdnum: {}, vars: {}, onRequest: 'close', exited: false }),
  handlers: {
    async main(k, { ops, onRequest, stay }) {
      await k.wait_for_completion(completionRef(BOOTED_COMPLETION));
      k.state.onRequest = onRequest ?? 'close';
      const out: ProcResult[] = [];
      for (const op of ops) {
        if (k.state.exited) break;
        const ret = await runOp(k, op);
        out.push({ do: op.do, ret: isErrno(ret) ? ret.errno : ret });
      }
      if (stay !== true && !k.state.exited) await exitProcess(k);
      return out;
    },

    /**
     * The device-request eventfd fired (vfio_pci_core_request): QEMU-like
     * processes unplug the device, i.e. close the device fd that registered
     * the eventfd; a process that ignores it keeps the fd.
     */
    async eventfd_signal(k, { file }) {
      if (k.state.exited || k.state.onRequest === 'ignore') return 0;
      for (const [fd, f] of Object.entries(k.state.fds)) if (f === file) await closeFd(k, fd);
      return 0;
    },

    async close_fd(k, { fd }) {
      await closeFd(k, fd);
      return 0;
    },
  },
  inspect: (s) => ({ name: s.name, fds: { ...s.fds }, fdnum: { ...s.fdnum }, vars: { ...s.vars }, onRequest: s.onRequest, exited: s.exited }),
});

export default userProcess;
