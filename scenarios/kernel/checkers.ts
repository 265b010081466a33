import type { Checker } from '../../checkers/checker.ts';
import { HeldLocks } from '../../checkers/held-locks.ts';
import { InvariantsChecker } from '../../checkers/invariants/index.ts';
import { IsolationChecker } from '../../checkers/isolation/index.ts';
import type { InvariantsOptions } from '../../checkers/invariants/index.ts';
import { LifetimeChecker } from '../../checkers/lifetime/lifetime-checker.ts';
import { ObjectTypes } from '../../checkers/lifetime/object-types.ts';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { RaceChecker } from '../../checkers/races/race-checker.ts';
import { KernelWarnChecker } from '../../checkers/warn.ts';
import { VfioInvariantsChecker } from '../../checkers/vfio-invariants/index.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import type { KnownDependency } from '../../protocol/lock-classes.ts';

/**
 * Kernel objects that live as long as the system does: still allocated at
 * the end of a run is normal for them (a bound device, a group, its default
 * domain), so the lifetime checker does not call them leaks. Objects with a
 * shorter life (SVA bonds, private domains, iommu_mm) are still checked.
 */
export const LONG_LIVED_TYPES: readonly string[] = ['device', 'device_driver', 'iommu_group', 'dev_iommu', 'iommu_domain', 'iommu_mm', 'vfio_group', 'vfio_device', 'vfio_device_set', 'module', 'module_data'];

/**
 * The checkers of a kernel-model run: lockdep (with the kernel's canonical
 * order preloaded, so a model path that takes two classes the other way round
 * is an inversion even if the kernel's own path never runs), races, lifetime
 * the §8.2 invariants, WARN sites, and DMA isolation (checkers/isolation).
 * `known` replaces the preloaded order (a scenario's rules:
 * checkers/lockdep/preload.ts), `invariants` skips or replaces invariants.
 */
export function kernelCheckers(opts: { readonly invariants?: InvariantsOptions; readonly known?: readonly KnownDependency[] } = {}): Checker[] {
  // one held-lock table for all of them: each checker kept its own, seven copies of the same table (issue 19)
  const held = new HeldLocks({ shared: true });
  // one object-type table too: five checkers kept one each, and a restored schedule copied five (issue 19)
  const types = new ObjectTypes();
  return [
    new Lockdep({ known: opts.known ?? CANONICAL_ORDER, held }), new RaceChecker({ held, types }), new LifetimeChecker({ keep: LONG_LIVED_TYPES, held, types }),
    new InvariantsChecker({ ...opts.invariants, held, types }), new KernelWarnChecker({ held }), new IsolationChecker({ held, types }), new VfioInvariantsChecker({ held, types }),
  ];
}
