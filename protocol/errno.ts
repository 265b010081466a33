// Kernel errno names the model returns. Handlers return `-errno` the way the
// kernel does, as a value, not an exception: `return errno('EBUSY')`.

export const ERRNO_NAMES = [
  'EPERM', 'ENOENT', 'EINTR', 'EIO', 'ENXIO', 'E2BIG', 'EBADF', 'EAGAIN', 'ENOMEM', 'EFAULT',
  'EBUSY', 'EEXIST', 'EXDEV', 'ENODEV', 'EINVAL', 'ENOSPC', 'ENOTTY', 'ENOSYS', 'EOPNOTSUPP',
  'ETIMEDOUT', 'EPROBE_DEFER', 'EDEADLK', 'ENOTSUPP', 'ERANGE', 'EOVERFLOW', 'EACCES', 'EBADFD',
] as const;

export type ErrnoName = (typeof ERRNO_NAMES)[number];

/** A negative return from a kernel function. Plain data: it crosses threads. */
export interface Errno {
  readonly errno: ErrnoName;
}

const cache = new Map<ErrnoName, Errno>();
export function errno(name: ErrnoName): Errno {
  let e = cache.get(name);
  if (e === undefined) {
    e = Object.freeze({ errno: name });
    cache.set(name, e);
  }
  return e;
}

export function isErrno(v: unknown): v is Errno {
  return typeof v === 'object' && v !== null && typeof (v as { errno?: unknown }).errno === 'string'
    && (ERRNO_NAMES as readonly string[]).includes((v as { errno: string }).errno);
}
