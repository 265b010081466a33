import { objId } from '../protocol/ids.ts';
import type { ObjId } from '../protocol/ids.ts';

/**
 * What the unit models tell the checkers about their hardware state, as
 * `access` writes (lockless: hardware state has no kernel lock) on these
 * objects and fields. The isolation checker (checkers/isolation/) rebuilds
 * page tables and completed invalidations from them; docs/hardware.md lists
 * them.
 *
 * - the page-table entry of an IOVA: object = the domain, field
 *   `pte:<iova hex>`, value = the page or null (unmapped);
 * - a completed IOTLB invalidation of a domain's tag: object = the domain,
 *   field `iotlb_inv`, value = how many have completed so far;
 * - a completed device-TLB (ATC) invalidation of a device: object
 *   `<dev>.atc`, field `atc_inv`, value = how many so far.
 */

export const PTE_PREFIX = 'pte:';
export const ptField = (iova: number): string => `${PTE_PREFIX}0x${iova.toString(16)}`;
export const IOTLB_INV = 'iotlb_inv';
export const ATC_INV = 'atc_inv';
export const atcObj = (dev: string): ObjId => objId(`${dev}.atc`);
