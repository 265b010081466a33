import { isErrno } from '../../../protocol/errno.ts';
import type { Errno } from '../../../protocol/errno.ts';
import type { VariantValue } from '../../../protocol/variants.ts';
import { G, devIommuBit, underGroup } from '../state.ts';
import type { DevIommu, Group, IK } from '../state.ts';
import { allocDomain, freeDomain, unitCall } from '../domains.ts';

/**
 * Variant `reset-blocking` (seed 003's RMR discussion): what the RID of a
 * resetting device translates through. Runs under group->mutex.
 */
export interface ResetBlockingImpl {
  /** The domain prepare stages the device on (it becomes resetting_domain). */
  stagingDomain(k: IK, g: Group, di: DevIommu): Promise<string | Errno>;
  /** done() has moved the device back; drop what prepare made. */
  afterReset(k: IK, g: Group, stage: string): Promise<void>;
}

/** 7.0.0: always the blocking domain, attached directly — the require_direct refusal is bypassed. */
const bypassRequireDirect: ResetBlockingImpl = {
  async stagingDomain(k, g) {
    return k.read(g, 'blocking_domain', underGroup(g.id))!;
  },
  async afterReset() {},
};

/**
 * Jason's alternative for RMR devices: "establish a new paging domain for
 * isolation purposes that has the RMR setup" — an empty paging domain
 * holding only the device's direct (1:1) mappings, so the firmware's DMA
 * keeps working while everything else is blocked.
 */
const rmrPaging: ResetBlockingImpl = {
  async stagingDomain(k, g, di) {
    const blocking = k.read(g, 'blocking_domain', underGroup(g.id))!;
    if (!devIommuBit(k, di, 'require_direct', G(g.id))) return blocking;
    const d = await allocDomain(k, di.unit, 'paging', di.dev);
    if (isErrno(d)) return d;
    // iommu_create_device_direct_mappings() for the device's IOMMU_RESV_DIRECT region
    const page = `${di.dev}-rmr`;
    const ret = await unitCall(k, di.unit, 'map', { domain: d, iova: RMR_IOVA, page });
    if (isErrno(ret)) {
      await freeDomain(k, d);
      return ret;
    }
    const dom = k.state.domains[d]!;
    k.write(dom, 'mappings', { ...dom.mappings, [String(RMR_IOVA)]: page }, { lockless: true });
    return d;
  },
  async afterReset(k, g, stage) {
    if (stage !== k.read(g, 'blocking_domain', underGroup(g.id))) await freeDomain(k, stage);
  },
};

/** Where the model puts a device's RMR (direct-mapped) region. */
export const RMR_IOVA = 0x8000_0000;

export const RESET_BLOCKING: { readonly [V in VariantValue<'reset-blocking'>]: ResetBlockingImpl } = {
  'bypass-require-direct': bypassRequireDirect,
  'rmr-paging': rmrPaging,
};
