import type { UnitKind, UnitSpec } from '../protocol/topology.ts';

/**
 * Which module implements a unit: the vendor model of its kind, or the
 * user's own module when the topology names one (UnitSpec.module, a
 * plug-in unit implementing protocol/iommu-unit.ts; docs/hardware.md).
 * Module names are package-relative, or paths / file URLs for plug-ins
 * (runtime/modules.ts resolveModule).
 */
export interface UnitModule {
  readonly module: string;
  readonly export: string;
}

export const UNIT_MODULES: { readonly [K in UnitKind]: UnitModule } = {
  vtd: { module: 'hardware/vtd', export: 'vtdUnit' },
  'amd-vi': { module: 'hardware/amd-vi', export: 'amdViUnit' },
  'smmu-v3': { module: 'hardware/smmu-v3', export: 'smmuV3Unit' },
  mock: { module: 'hardware/mock', export: 'mockUnit' },
};

/** The minimal generic unit the kernel model started with (hardware/basic-unit.ts). */
export const BASIC_UNIT: UnitModule = { module: 'hardware/basic-unit', export: 'basicUnit' };

export function unitModuleFor(spec: UnitSpec): UnitModule {
  if (spec.module !== undefined) return { module: spec.module, export: spec.export ?? 'default' };
  return UNIT_MODULES[spec.kind];
}
