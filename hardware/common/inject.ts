import type { UK } from './state.ts';

/**
 * Fault injection, in the spirit of the kernel's fail_nth / failslab
 * (tools/testing/selftests/iommu/iommufd_fail_nth.c): the nth call of a
 * driver op (optionally for one device) fails with -ENOMEM, as an
 * allocation inside it would. One shot: the injection is used up when it
 * fires. The conformance suite uses it to make set_dev_pasid fail on the
 * second device of a group (docs/kernel-facts.md §7.3 case 7); the mock's
 * own PASID 1024 hook is separate (mock.ts).
 */

export type InjectSite = 'set_dev_pasid' | 'attach_dev' | 'domain_alloc';

export interface Injection {
  readonly site: InjectSite;
  readonly dev: string | null;
  /** Calls still to pass before the one that fails (nth = 1: the next call fails). */
  left: number;
}

/** The unit's test mailbox, next to the driver protocol (protocol/iommu-unit.ts). */
export type UnitTestMailbox = {
  readonly op: 'fault_inject';
  readonly body: { readonly site: InjectSite; readonly dev?: string; readonly nth?: number };
};

export function addInjection<V>(k: UK<V>, site: InjectSite, dev: string | null, nth: number): void {
  k.state.inject.push({ site, dev, left: Math.max(1, nth) });
}

/** True when this call of `site` (for `dev`) is the one to fail. */
export function shouldFail<V>(k: UK<V>, site: InjectSite, dev: string | null): boolean {
  const list = k.state.inject;
  for (let i = 0; i < list.length; i++) {
    const inj = list[i]!;
    if (inj.site !== site || (inj.dev !== null && inj.dev !== dev)) continue;
    inj.left--;
    if (inj.left > 0) return false;
    list.splice(i, 1);
    return true;
  }
  return false;
}
