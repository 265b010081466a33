import { isErrno } from '../protocol/errno.ts';
import type { ErrnoName } from '../protocol/errno.ts';

/**
 * How many generated calls got past the kernel's argument checks. A call is
 * refused by an argument check when it returns one of ARGUMENT_ERRNOS: no
 * such device or object (-ENODEV, -ENOENT, -ENXIO), a malformed or wrong
 * argument (-EINVAL, -EBADF, -ENOTTY), an operation the target does not
 * support (-EOPNOTSUPP). Everything else — success, a value, and the errnos
 * of contention and policy (-EBUSY, -EAGAIN, -EPERM, ...) — passed them and
 * reached the code under test. Conservative: a device a concurrent task
 * removed also answers -ENODEV, and counts as refused here.
 */
export const ARGUMENT_ERRNOS: readonly ErrnoName[] = ['EINVAL', 'ENODEV', 'ENOENT', 'ENXIO', 'EBADF', 'ENOTTY', 'EOPNOTSUPP', 'ENOTSUPP'];

export interface CallTally {
  total: number;
  passed: number;
}

const errnoOf = (v: unknown): string | null => (isErrno(v) ? v.errno : typeof v === 'string' && /^E[A-Z_0-9]+$/.test(v) ? v : null);

/** One result: a handler's return value, or an action list's `[{do, ret}]`. */
function tallyOne(v: unknown, into: CallTally): void {
  if (Array.isArray(v)) {
    for (const a of v) tallyOne((a as { readonly ret?: unknown }).ret, into);
    return;
  }
  into.total++;
  const e = errnoOf(v);
  if (e === null || !(ARGUMENT_ERRNOS as readonly string[]).includes(e)) into.passed++;
}

/** Counts the calls of every scenario task (not boot) in one execution's results. */
export function tallyCalls(results: Readonly<Record<string, unknown>>, into: CallTally): void {
  for (const [task, value] of Object.entries(results)) {
    if (task === 'boot' || !Array.isArray(value)) continue;
    for (const call of value) tallyOne(call, into);
  }
}
