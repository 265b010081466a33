import type { Topology } from './topology.ts';
import type { ModelVariants } from './variants.ts';
import { actorId } from './ids.ts';
import type { ActorId } from './ids.ts';

/**
 * The configuration every kernel-model actor (driver-core, pci, iommu-core,
 * the IOMMU units) is built from: the whole topology and the full variant
 * choice. Each actor keeps what it owns.
 */
export interface KernelConfig {
  readonly topology: Topology;
  readonly variants: ModelVariants;
}

/** The kernel model's actor ids. Units are `unit:<name>` (topology.ts unitActor). */
export const DRIVER_CORE: ActorId = actorId('driver-core');
export const PCI: ActorId = actorId('pci');
export const IOMMU_CORE: ActorId = actorId('iommu-core');

/** A call another task makes later: where, which op, with what. */
export interface Call {
  readonly to: string;
  readonly op: string;
  readonly body?: unknown;
}

/**
 * Completed (complete_all) by the boot task once drivers are registered and
 * devices enumerated; every scenario task waits for it first.
 */
export const BOOTED_COMPLETION = 'kernel_init->booted';
