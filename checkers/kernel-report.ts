import { LOCK_CLASSES, isLockClassName } from '../protocol/lock-classes.ts';

/**
 * What every report printer shares to print in the kernel's shapes
 * (lib/dump_stack.c, kernel/locking/lockdep.c print_lock(), mm/kasan/report.c,
 * kernel/kcsan/report.c, kernel/hung_task.c, kernel/panic.c __warn()).
 *
 * The model has no addresses, pids, cpus or object sizes. Where the kernel
 * prints one, the printers print a stable synthetic value in the kernel's
 * format, derived from the model's own name for the thing (a task id, an
 * object id), so the same task or object gets the same value in every
 * report, run and host. Line numbers are never invented: a location is a
 * function, or a kernel file and a function. What the synthetic values
 * stand for is listed after the splat, in lines that start with
 * "iommu-lab:" (REPORT_LEGEND), which no kernel splat has.
 */

/** The kernel release the model follows, as dump_stack() prints it. */
export const KERNEL_RELEASE = '7.0.0-iommu-lab #1';

/** Lines after a splat that say what its synthetic values stand for start with this. */
export const REPORT_LEGEND = 'iommu-lab:';

/** 32-bit FNV-1a: stable across hosts and runs (no Math.random, no Map order). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** TASK_COMM_LEN is 16: comm holds at most 15 characters. */
const TASK_COMM_LEN = 16;

/**
 * A task's comm: its model name without the `proc:` of userspace
 * processes (a QEMU task is `qemu`), cut to 15 characters as the kernel cuts it.
 */
export function taskComm(task: string): string {
  const name = task.startsWith('proc:') ? task.slice('proc:'.length) : task;
  return name.slice(0, TASK_COMM_LEN - 1);
}

/** A stable synthetic pid per task (the kernel's pids of a fresh boot are small; these are 4-digit). */
export function taskPid(task: string): number {
  return 1000 + (fnv1a(task) % 9000);
}

/** A stable synthetic cpu per task, for KCSAN's "on cpu N" and dump_stack()'s "CPU: N". */
export function taskCpu(task: string): number {
  return fnv1a(`cpu:${task}`) % 4;
}

/** "comm/pid", as lockdep and KASAN name a task. */
export function taskName(task: string): string {
  return `${taskComm(task)}/${taskPid(task)}`;
}

/** dump_stack()'s header line. */
export function cpuLine(task: string): string {
  return `CPU: ${taskCpu(task)} UID: 0 PID: ${taskPid(task)} Comm: ${taskComm(task)} Not tainted ${KERNEL_RELEASE}`;
}

/** A stable synthetic kernel address for a model object or lock instance (the direct map, 16-byte aligned). */
export function synthAddr(id: string): string {
  const lo = (fnv1a(id) & 0xfffffff0) >>> 0;
  return `ffff8880${lo.toString(16).padStart(8, '0')}`;
}

/** The address of `field` inside the object `obj`: a stable synthetic, 8-aligned offset below OBJECT_SIZE. */
export function fieldAddr(obj: string, field: string): { readonly addr: string; readonly offset: number } {
  const offset = (fnv1a(`${obj}.${field}`) % (OBJECT_SIZE / 8)) * 8;
  const base = BigInt(`0x${synthAddr(obj)}`);
  return { addr: (base + BigInt(offset)).toString(16), offset };
}

/** The size KASAN prints for an object (the model has no struct sizes): one stable synthetic value. */
export const OBJECT_SIZE = 256;

/**
 * Lock class names as lockdep prints them: the name the kernel's
 * mutex_init()/init_rwsem() stringifies (`&dev->mutex`), or the variable of
 * a DEFINE_MUTEX/DECLARE_RWSEM (`pci_rescan_remove_lock`).
 */
const KERNEL_CLASS_NAMES: Readonly<Record<string, string>> = {
  // drivers/base/core.c device_initialize(): mutex_init(&dev->mutex)
  'device_lock': '&dev->mutex',
  // drivers/base/bus.c bus_register(): __mutex_init(&priv->mutex, "subsys mutex", key)
  'subsys_private->mutex': 'subsys mutex',
  // drivers/pci/hotplug/pciehp_hpc.c pcie_init(): init_rwsem(&ctrl->reset_lock)
  'ctrl->reset_lock': '&ctrl->reset_lock',
  // drivers/iommu/iommu.c iommu_group_alloc(): mutex_init(&group->mutex)
  'group->mutex': '&group->mutex',
  // drivers/iommu/iommu.c dev_iommu_get(): mutex_init(&param->lock)
  'dev->iommu->lock': '&param->lock',
  // drivers/vfio/group.c: static struct vfio { struct mutex group_lock; ... } vfio; mutex_init(&vfio.group_lock)
  'vfio.group_lock': '&vfio.group_lock',
  // drivers/vfio/group.c vfio_group_alloc(): mutex_init(&group->group_lock), mutex_init(&group->device_lock)
  'vfio_group->group_lock': '&group->group_lock',
  'vfio_group->device_lock': '&group->device_lock',
  // drivers/vfio/vfio_main.c vfio_assign_device_set(): mutex_init(&new_dev_set->lock)
  'dev_set->lock': '&new_dev_set->lock',
  // drivers/vfio/container.c vfio_fops_open(): init_rwsem(&container->group_lock)
  'container->group_lock': '&container->group_lock',
  // drivers/vfio/container.c vfio_container_init(): mutex_init(&vfio.iommu_drivers_lock)
  'vfio.iommu_drivers_lock': '&vfio.iommu_drivers_lock',
  // drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_open(): mutex_init(&iommu->lock)
  'vfio_iommu->lock': '&iommu->lock',
  // drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_init_dev(): init_rwsem(&vdev->memory_lock), mutex_init(&vdev->igate)
  'vdev->memory_lock': '&vdev->memory_lock',
  'vdev->igate': '&vdev->igate',
  // drivers/vfio/vfio_main.c vfio_init_device(): init_completion(&device->comp)
  'vfio_device->comp': '&device->comp',
  // drivers/iommu/iommufd/device.c iommufd_get_group(): mutex_init(&new_igroup->lock)
  'igroup->lock': '&new_igroup->lock',
  // drivers/iommu/iommufd/ioas.c iommufd_ioas_alloc(): mutex_init(&ioas->mutex)
  'ioas->mutex': '&ioas->mutex',
  // drivers/iommu/iommufd/io_pagetable.c iopt_init_table(): init_rwsem(&iopt->iova_rwsem)
  'iopt->iova_rwsem': '&iopt->iova_rwsem',
};

/** "device_lock/1" → "&dev->mutex/1": lockdep prints a nesting subclass as "/N" after the name. */
export function kernelClassName(key: string): string {
  const slash = key.lastIndexOf('/');
  const sub = slash > 0 && /^\d+$/.test(key.slice(slash + 1)) ? key.slice(slash) : '';
  const cls = sub === '' ? key : key.slice(0, slash);
  return (KERNEL_CLASS_NAMES[cls] ?? cls) + sub;
}

/**
 * lockdep's usage and wait-type braces, `{+.+.}-{4:4}`, where the model
 * knows them: every modelled lock is a sleeping lock (LD_WAIT_SLEEP, 4 in
 * 6.x+ lockdep_types.h) taken in process context with interrupts enabled
 * (pciehp's handler is an IRQ *thread*): '+' for the write usages, and for
 * an rwsem the read usages too (each modelled rwsem is taken both ways
 * somewhere in the kernel). Completions are not lockdep classes since the
 * cross-release removal (4.15): no braces; nor for a scenario's own classes
 * of unknown kind.
 */
export function usageOf(key: string, kind?: string): string {
  const slash = key.lastIndexOf('/');
  const cls = slash > 0 && /^\d+$/.test(key.slice(slash + 1)) ? key.slice(0, slash) : key;
  const k = isLockClassName(cls) ? LOCK_CLASSES[cls].kind : kind;
  if (k === 'mutex') return '{+.+.}-{4:4}';
  if (k === 'rwsem') return '{++++}-{4:4}';
  return '';
}

/** "(&dev->mutex){+.+.}-{4:4}": a class as print_lock_name() prints it. */
export function classWithUsage(key: string, kind?: string): string {
  return `(${kernelClassName(key)})${usageOf(key, kind)}`;
}

/** The frames of the lock machinery ("locks:mutex_lock"): not kernel code of the subsystem. */
const MACHINERY = /^(locks?|lock-manager)[^:]*:/;

/**
 * A stack frame as a backtrace line prints it: the function. Frames are
 * "actor:function" (an actor id may contain ':'; a function does not).
 */
export function frameFunction(frame: string): string {
  // a kernel-order edge's source, "drivers/pci/remove.c: pci_stop_and_remove_bus_device": function, then file
  const src = /^([\w./-]+\.[ch]): (\w+)$/.exec(frame);
  if (src !== null) return `${src[2]} ${src[1]}`;
  const i = frame.lastIndexOf(':');
  return i < 0 ? frame : frame.slice(i + 1);
}

/** The innermost frame that is subsystem code, as a function name ("at: pciehp_ist"). */
export function innermostFunction(stack: readonly string[]): string {
  for (let i = stack.length - 1; i >= 0; i--) {
    const f = stack[i] as string;
    if (!MACHINERY.test(f)) return frameFunction(f);
  }
  const last = stack[stack.length - 1];
  return last === undefined ? '?' : frameFunction(last);
}

/** A backtrace innermost first, one function per line. */
export function backtraceLines(stack: readonly string[], indent = ' '): string {
  let s = '';
  for (let i = stack.length - 1; i >= 0; i--) s += `${indent}${frameFunction(stack[i] as string)}\n`;
  return s;
}

/** dump_stack(): "CPU: …", "Call Trace:", the frames between <TASK> markers. */
export function dumpStack(task: string, stack: readonly string[]): string {
  return `${cpuLine(task)}\nCall Trace:\n <TASK>\n${backtraceLines(stack)} </TASK>\n`;
}

/**
 * The kernel file of a kernel function the model names in a WARN message
 * (the source each WARN_ON site models). Files only: the model has no line
 * numbers.
 */
const FUNCTION_FILES: Readonly<Record<string, string>> = {
  __iommu_group_free_device: 'drivers/iommu/iommu.c',
  __iommu_group_set_domain_internal: 'drivers/iommu/iommu.c',
  __iommu_group_set_domain_nofail: 'drivers/iommu/iommu.c',
  __iommu_release_dma_ownership: 'drivers/iommu/iommu.c',
  iommu_detach_device: 'drivers/iommu/iommu.c',
  iommu_detach_device_shared: 'drivers/iommu/iommu.c',
  iommu_device_release_dma_owner: 'drivers/iommu/iommu.c',
  iommu_device_unuse_default_domain: 'drivers/iommu/iommu.c',
  iommu_group_claim_dma_owner: 'drivers/iommu/iommu.c',
  iommu_group_release: 'drivers/iommu/iommu.c',
  iommu_group_release_dma_owner: 'drivers/iommu/iommu.c',
  iommu_remove_dev_pasid: 'drivers/iommu/iommu.c',
  iommu_replace_device_pasid: 'drivers/iommu/iommu.c',
  pci_dev_reset_iommu_prepare: 'drivers/iommu/iommu.c',
  pci_dev_reset_iommu_done: 'drivers/iommu/iommu.c',
  pci_device_group: 'drivers/iommu/iommu.c',
  iommu_get_dma_strict: 'drivers/iommu/iommu.c',
  fput: 'fs/file_table.c',
  iommufd_fops_release: 'drivers/iommu/iommufd/main.c',
  iommufd_group_release: 'drivers/iommu/iommufd/device.c',
  pci_device_add: 'drivers/pci/probe.c',
  pci_dma_cleanup: 'drivers/pci/pci-driver.c',
  platform_dma_cleanup: 'drivers/base/platform.c',
  vfio_assert_device_open: 'drivers/vfio/vfio_main.c',
  vfio_register_group_dev: 'drivers/vfio/vfio_main.c',
  vfio_device_group_use_iommu: 'drivers/vfio/group.c',
  vfio_device_remove_group: 'drivers/vfio/group.c',
  vfio_group_find_or_alloc: 'drivers/vfio/group.c',
  vfio_group_has_iommu: 'drivers/vfio/group.c',
  vfio_group_release: 'drivers/vfio/group.c',
  vfio_group_detach_container: 'drivers/vfio/container.c',
  vfio_group_unuse_container: 'drivers/vfio/container.c',
  vfio_iommufd_physical_attach_ioas: 'drivers/vfio/iommufd.c',
};

/** "drivers/vfio/container.c:vfio_group_detach_container", or the function alone when its file is not known. */
export function kernelLocation(fn: string): string {
  const file = FUNCTION_FILES[fn];
  return file === undefined ? fn : `${file}:${fn}`;
}
