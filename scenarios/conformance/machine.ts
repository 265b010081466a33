import type { UnitProfile } from '../../hardware/profiles.ts';
import type { PciDevSpec, Topology, UnitSpec } from '../../protocol/topology.ts';

/**
 * The machine every conformance case boots: one IOMMU unit — the unit under
 * test — and a few PCI endpoints on the root bus (so each is its own iommu
 * group, like the mock's generic_device_group), all ATS- and PASID-capable:
 *
 * - A, B: the devices the cases drive;
 * - F0, F1: two functions of one multi-function device without ACS, so one
 *   group of two (left out for the mock, whose groups are singletons);
 * - R: a device with a firmware direct-mapped region (require_direct), only
 *   in the case about it.
 *
 * No driver binds at boot: the cases act as kernel client code
 * (module_call) and claim ownership themselves.
 */

export const UNIT = 'iommu0';
export const A = '0000:00:02.0';
export const B = '0000:00:03.0';
export const F0 = '0000:00:04.0';
export const F1 = '0000:00:04.1';
export const R = '0000:00:05.0';
export const MMS = ['mm1', 'mm2'] as const;

/** The unit a conformance run judges: a built-in profile, or a plug-in module standing in for one. */
export interface UnitUnderTest {
  /** As reports name it: "vtd@7.0", or "./my-unit.ts (as vtd@7.0)". */
  readonly label: string;
  readonly spec: UnitSpec;
  /** The profile whose capabilities and documented deviations apply. */
  readonly profile: UnitProfile;
}

/** The unit's spec for a profile, optionally a plug-in module. */
export function unitSpec(profile: UnitProfile, plugin?: { readonly module: string; readonly export: string }): UnitSpec {
  return {
    name: UNIT, kind: profile.kind, max_pasids: 1 << 20,
    ...(profile.version !== null ? { version: profile.version } : {}),
    ...(profile.kind === 'mock' ? { sva: false } : {}),
    ...(plugin !== undefined ? { module: plugin.module, export: plugin.export } : {}),
  };
}

const endpoint = (bdf: string, extra: Partial<PciDevSpec> = {}): PciDevSpec => ({ bdf, unit: UNIT, ats: true, pasid_bits: 20, ...extra });

/** Multi-device groups exist on this unit (not on the mock: generic_device_group makes singletons). */
export const hasMultiDeviceGroups = (u: UnitUnderTest): boolean => u.profile.kind !== 'mock';

export function conformanceTopology(u: UnitUnderTest, opts: { readonly passthrough?: boolean; readonly requireDirect?: boolean } = {}): Topology {
  const pci: PciDevSpec[] = [endpoint(A), endpoint(B)];
  if (hasMultiDeviceGroups(u)) pci.push(endpoint(F0), endpoint(F1));
  if (opts.requireDirect === true) pci.push(endpoint(R, { require_direct: true }));
  return { units: [u.spec], pci, drivers: [], mms: [...MMS], ...(opts.passthrough === true ? { passthrough: true } : {}) };
}
