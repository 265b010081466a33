import type { DomainType } from './iommu-core.ts';

/**
 * The protocol between the IOMMU core and one hardware IOMMU unit (the
 * driver's iommu_ops / iommu_domain_ops plus the hardware behind them).
 * Every unit model (hardware/) implements this mailbox. The core passes
 * domains by id together with their type, so a unit keeps only its own
 * tables. Replies: `Ret` = 0 or an Errno value.
 */
type D = { readonly domain: string; readonly type: DomainType };

export type IommuUnitMailbox =
  /** ops->probe_device: the device's max PASIDs (min of device and unit), or an Errno. */
  | { readonly op: 'probe_device'; readonly body: { readonly dev: string; readonly pasid_bits: number } }
  /** ops->release_device. */
  | { readonly op: 'release_device'; readonly body: { readonly dev: string } }
  /** A domain was allocated by the core (paging/dma/sva; static blocked/identity exist from the start). Ret (-ENOMEM, -EOPNOTSUPP). */
  | { readonly op: 'domain_alloc'; readonly body: D & { readonly dev: string | null; readonly pasid: boolean; readonly mm?: string } }
  | { readonly op: 'domain_free'; readonly body: { readonly domain: string } }
  /** domain->ops->attach_dev(domain, dev, old). Ret. */
  | { readonly op: 'attach_dev'; readonly body: D & { readonly dev: string; readonly old: string | null } }
  /** domain->ops->set_dev_pasid(domain, dev, pasid, old). Ret. */
  | { readonly op: 'set_dev_pasid'; readonly body: D & { readonly dev: string; readonly pasid: number; readonly old: string | null } }
  /** blocked_domain->ops->set_dev_pasid(): the PASID stops translating (iommu_remove_dev_pasid). */
  | { readonly op: 'remove_dev_pasid'; readonly body: { readonly dev: string; readonly pasid: number; readonly domain: string } }
  | { readonly op: 'map'; readonly body: { readonly domain: string; readonly iova: number; readonly page: string } }
  | { readonly op: 'unmap'; readonly body: { readonly domain: string; readonly iova: number } }
  /** iotlb_sync after unmap: invalidation plus its completion. */
  | { readonly op: 'iotlb_sync'; readonly body: { readonly domain: string } }
  /**
   * DMA remapping on or off (intel iommu_enable_translation() /
   * iommu_disable_translation(), arm_smmu_device_reset()'s SMMUEN / arm_smmu_device_disable()):
   * the unit's driver turns it on before iommu_device_register() and off after
   * iommu_device_unregister(). Off, requests pass untranslated (bypass to the
   * physical address). A unit present at boot starts on. Ret.
   */
  | { readonly op: 'set_translation'; readonly body: { readonly enabled: boolean } }
  /** The device performs DMA; the unit translates and emits a `dma` event. Replies DmaOutcome. */
  | { readonly op: 'dma'; readonly body: { readonly dev: string; readonly iova: number; readonly pasid: number | null; readonly write: boolean } };

export interface DmaOutcome {
  /** translated: reached `target`; blocked: the entry blocks DMA; fault: no translation; bypass: identity. */
  readonly outcome: 'translated' | 'blocked' | 'fault' | 'bypass';
  /** The page reached (translated), or null. */
  readonly target: string | null;
  /** The domain the translation went through, or null. */
  readonly domain: string | null;
}

/** The static blocked and identity domains of a unit (ops->blocked_domain / identity_domain). */
export const blockedDomainOf = (unit: string): string => `${unit}.blocked_domain`;
export const identityDomainOf = (unit: string): string => `${unit}.identity_domain`;

/** A unit actor's configuration: the kernel configuration plus which unit of the topology it is. */
export interface UnitConfig {
  readonly topology: import('./topology.ts').Topology;
  readonly variants: import('./variants.ts').ModelVariants;
  readonly unit: string;
}
