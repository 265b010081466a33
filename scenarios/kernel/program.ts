import { lockManagerSpec } from '../../actors/lock-manager.ts';
import { actorId, taskId } from '../../protocol/ids.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call, KernelConfig } from '../../protocol/kernel.ts';
import { unitActor } from '../../protocol/topology.ts';
import type { Topology } from '../../protocol/topology.ts';
import { resolveVariants } from '../../protocol/variants.ts';
import type { ActorSpec, Program, TaskSpec } from '../../runtime/program.ts';

/** A task of a kernel-model program: calls made in program order once the system has booted. */
export interface KernelTask {
  readonly id: string;
  readonly calls: readonly Call[];
}

export interface KernelProgramSpec {
  readonly name: string;
  readonly topology: Topology;
  /** Variant choice; axes left out take the model defaults (protocol/variants.ts). */
  readonly variants?: Readonly<Record<string, string>>;
  readonly tasks: readonly KernelTask[];
  /** The module that implements the IOMMU units (default: hardware/basic-unit). */
  readonly unitModule?: { readonly module: string; readonly export: string };
}

/**
 * The program of a kernel-model run: driver-core, pci, iommu-core, one actor
 * per IOMMU unit, one lock manager; a `boot` task that registers drivers and
 * enumerates devices, and the scenario's tasks, each of which waits for the
 * boot to complete before its first call.
 */
export function kernelProgram(spec: KernelProgramSpec): Program {
  const config: KernelConfig = { topology: spec.topology, variants: resolveVariants(spec.variants) };
  const unit = spec.unitModule ?? { module: 'hardware/basic-unit', export: 'basicUnit' };
  const actors: ActorSpec[] = [
    { id: DRIVER_CORE, module: 'actors/driver-core/index', export: 'driverCore', config },
    { id: PCI, module: 'actors/pci/index', export: 'pci', config },
    { id: IOMMU_CORE, module: 'actors/iommu-core/index', export: 'iommuCore', config },
    ...spec.topology.units.map((u) => ({ id: actorId(unitActor(u.name)), module: unit.module, export: unit.export, config: { ...config, unit: u.name } })),
    lockManagerSpec(),
  ];
  const tasks: TaskSpec[] = [
    { id: taskId('boot'), to: DRIVER_CORE, op: 'boot', body: null },
    ...spec.tasks.map((t) => ({ id: taskId(t.id), to: DRIVER_CORE, op: 'after_boot', body: { calls: t.calls } })),
  ];
  return { name: spec.name, actors, lockManagers: [actorId('locks')], tasks };
}
