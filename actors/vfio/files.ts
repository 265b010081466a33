import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { allocObj, asObj, atomic, initFields } from './state.ts';
import type { VFile, VK } from './state.ts';
import { vfioGroupFopsRelease } from './group.ts';
import { vfioFopsRelease } from './container.ts';
import { vfioDeviceFopsRelease } from './device.ts';
import { iommufdFopsRelease } from './iommufd.ts';
import { kvmDeviceRelease, kvmVmRelease } from './kvm.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The VFS part of the model (fs/file_table.c, fs/open.c): struct file with
 * its f_count, fget/fput, and ->release at the last fput. A user task's last
 * fput does not release at once: ____fput runs from task_work when the
 * syscall returns to userspace, after every lock the syscall took is
 * dropped (fput → task_work_add). `syscall()` wraps every entry from a
 * process and runs that work at its end; so a device fd's release that
 * drops the last reference of its group file (vfio_group_unuse_container →
 * fput) releases the group file after vfio_df_group_close() has unlocked.
 */

/** A new file with one reference (the fd table's). */
export function allocFile(k: VK, kind: VFile['kind'], priv: string, proc: string): VFile {
  const id = allocObj(k, 'file', 'file');
  const f: VFile = { id, kind, priv, proc, f_count: 1 };
  k.state.files[id] = f;
  initFields(k, f, ['kind', 'priv', 'f_count']);
  return f;
}

/** A file allocated for an open() that then failed: never installed, freed at once (fput of a file with no release yet). */
export function discardFile(k: VK, f: VFile): void {
  delete k.state.files[f.id];
  k.free(f.id);
}

/**
 * fget(): a reference for the duration of a syscall, or null when the file
 * is gone (its last reference was dropped: the fd was closed).
 */
export const fget = kfunc('fget', { actor: 'vfio', source: 'fs/file.c: fget' }, function fget(k: VK, file: string | null): VFile | null {
  if (file === null) return null;
  k.use(asObj(file), 'fget');
  const f = k.state.files[file];
  if (f === undefined) return null;
  const n = k.read(f, 'f_count', atomic());
  if (n === 0) return null;
  k.write(f, 'f_count', n + 1, atomic());
  return f;
});

/** get_file(): another reference on a file the caller already holds. */
export const getFile = kfunc('get_file', { actor: 'vfio', source: 'include/linux/fs.h: get_file' }, function getFile(k: VK, file: string): void {
  const f = k.state.files[file];
  if (f === undefined) {
    k.use(asObj(file), 'get_file');
    return;
  }
  k.write(f, 'f_count', k.read(f, 'f_count', atomic()) + 1, atomic());
});

/** fput(): the last reference queues ->release for the end of the syscall. */
export const fput = kfunc('fput', { actor: 'vfio', source: 'fs/file_table.c: fput' }, function fput(k: VK, file: string): void {
  const f = k.state.files[file];
  if (f === undefined) {
    k.use(asObj(file), 'fput');
    return;
  }
  const n = k.read(f, 'f_count', atomic()) - 1;
  k.write(f, 'f_count', n, atomic());
  if (n < 0) k.warn(`fput: f_count underflow on ${file}`);
  if (n !== 0) return;
  const work = k.state.taskWork[k.task] ?? [];
  k.state.taskWork[k.task] = [...work, file];
});

/** task_work_run() on the way back to userspace: __fput() → ->release of every file queued by this task. */
const taskWorkRun = kfunc('task_work_run', { actor: 'vfio', source: 'kernel/task_work.c: task_work_run' }, async function taskWorkRun(k: VK): Promise<void> {
  for (;;) {
    const work = k.state.taskWork[k.task];
    const file = work?.[0];
    if (work === undefined || file === undefined) {
      delete k.state.taskWork[k.task];
      return;
    }
    k.state.taskWork[k.task] = work.slice(1);
    await release(k, file);
  }
});

/** __fput(): the file's ->release, then the file is freed. */
const release = kfunc('__fput', { actor: 'vfio', source: 'fs/file_table.c: __fput' }, async function release(k: VK, file: string): Promise<void> {
  const f = k.state.files[file];
  if (f === undefined) return;
  switch (f.kind) {
    case 'vfio-group':
      await vfioGroupFopsRelease(k, f);
      break;
    case 'vfio-container':
      vfioFopsRelease(k, f);
      break;
    case 'vfio-device':
      await vfioDeviceFopsRelease(k, f);
      break;
    case 'iommufd':
      await iommufdFopsRelease(k, f);
      break;
    case 'kvm-vm':
      kvmVmRelease(k, f);
      break;
    case 'kvm-device':
      await kvmDeviceRelease(k, f);
      break;
  }
  delete k.state.files[file];
  k.free(f.id);
});

/** A syscall from a process: its body, then the deferred releases of the files it put last. */
export async function syscall<R>(k: VK, body: () => Promise<R>): Promise<R> {
  const r = await body();
  await taskWorkRun(k);
  return r;
}

/**
 * An ioctl: fdget() of the file it is made on (-EBADF when the fd is gone),
 * the body with the file, fdput(), and the syscall's deferred releases.
 */
export function ioctl<R>(k: VK, file: string, body: (f: VFile) => Promise<R>): Promise<R | Errno> {
  return syscall(k, async () => {
    const f = fget(k, file);
    if (f === null) return errno('EBADF');
    try {
      return await body(f);
    } finally {
      fput(k, f.id);
    }
  });
}
