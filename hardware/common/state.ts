import type { Kernel } from '../../runtime/actor.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { DomainType } from '../../protocol/iommu-core.ts';
import type { Topology, UnitSpec } from '../../protocol/topology.ts';
import type { UnitProfile } from '../profiles.ts';
import type { FaultRecord } from './faults.ts';
import type { InvCommand } from './invalidation.ts';
import type { Injection } from './inject.ts';
import type { Tlb } from './tlb.ts';

/**
 * The state every unit model has, whatever its vendor: the domains it
 * built, the devices it probed, its caches, its invalidation queue and its
 * fault log. It is the hardware's (and the driver's private) state: no
 * kernel lock protects it and no other actor reads it, so it is plain data
 * mutated in place. What the checkers must see of it (page-table entries,
 * completed invalidations, DMA) is emitted as events (page-table.ts,
 * invalidation.ts, translate.ts).
 */

export type Ret = 0 | Errno;

/** One page-table entry: the page it maps and whether DMA writes are allowed. */
export interface Pte {
  readonly page: string;
  readonly write: boolean;
}

/** A domain as the unit holds it (the driver's struct xxx_domain plus its page table). */
export interface HwDomain {
  readonly id: string;
  readonly type: DomainType;
  /** ops->blocked_domain / identity_domain: exist from the start, never freed. */
  readonly static: boolean;
  /** SVA: the mm whose CPU page table the unit walks. */
  readonly mm: string | null;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID. */
  readonly pasid: boolean;
  /** The vendor's page-table format: "sl"/"fl" (VT-d), "v1"/"v2" (AMD), "s1"/"s2" (SMMUv3), "amdv1" (mock), "none". */
  readonly format: string;
  readonly pt: Map<number, Pte>;
  /**
   * The core freed the domain while a device entry still pointed at it: the
   * hardware keeps walking the (freed) page table. Kept so the model shows
   * what such a walk reaches.
   */
  freed: boolean;
}

/** What the unit knows of a probed device. */
export interface HwDevice {
  readonly dev: string;
  readonly maxPasids: number;
  /** PCI ATS capability (PciDevSpec.ats). */
  readonly ats: boolean;
  /** ATS enabled in the device: translated requests use its device-TLB. */
  atsEnabled: boolean;
}

export interface UnitState<V> {
  readonly name: string;
  readonly spec: UnitSpec;
  readonly profile: UnitProfile;
  readonly topology: Topology;
  readonly domains: Map<string, HwDomain>;
  readonly devices: Map<string, HwDevice>;
  /** The IOTLB, tagged by domain (DID / ASID / domain id). */
  readonly iotlb: Tlb;
  /** Each ATS device's device-TLB (ATC), tagged by PASID. */
  readonly devtlb: Map<string, Tlb>;
  /** iommu_iotlb_gather: IOVAs unmapped since the domain's last iotlb_sync. */
  readonly gather: Map<string, number[]>;
  /** Invalidation commands queued and not yet completed by a sync. */
  readonly queue: InvCommand[];
  readonly faults: FaultRecord[];
  readonly inject: Injection[];
  readonly stats: {
    translations: number; iotlbHits: number; devtlbHits: number; walks: number; faults: number; invalidations: number; syncs: number;
    /** Device-TLB invalidations not sent because the device was disconnected (B18). */
    devtlbSkipped: number;
  };
  /** The vendor's own tables (context/PASID tables, DTE/GCR3, STE/CD). */
  readonly vendor: V;
  /** DMA remapping is on (set_translation): a unit whose driver comes later (present_at_boot: false) starts off. */
  translating: boolean;
}

export type UK<V> = Kernel<UnitState<V>>;

/** The PASID width a unit without `max_pasids` offers (20 bits, the PCIe maximum). */
export const DEFAULT_MAX_PASIDS = 1 << 20;

export const isPaging = (t: DomainType): boolean => t === 'paging' || t === 'dma' || t === 'dma-fq';
/** Domains whose translations go through page tables (and so through the IOTLB). */
export const translates = (t: DomainType): boolean => isPaging(t) || t === 'sva';

/** "0x1000". */
export const hex = (n: number): string => `0x${n.toString(16)}`;
