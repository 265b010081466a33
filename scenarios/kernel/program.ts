import { lockManagerSpec } from '../../actors/lock-manager.ts';
import { unitModuleFor } from '../../hardware/index.ts';
import { actorId, taskId } from '../../protocol/ids.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call, KernelConfig } from '../../protocol/kernel.ts';
import { unitActor, withVirtfns } from '../../protocol/topology.ts';
import type { Topology } from '../../protocol/topology.ts';
import { resolveVariants } from '../../protocol/variants.ts';
import { VFIO, processActor, processTask } from '../../protocol/vfio.ts';
import type { ProcessSpec } from '../../protocol/vfio.ts';
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
  /** Userspace processes (actor and main task `proc:<name>`); with them, or with a driver that calls VFIO, the vfio actor runs too. */
  readonly processes?: readonly ProcessSpec[];
  /**
   * The module that implements every IOMMU unit, overriding the default: each
   * unit's own model by kind, or its UnitSpec.module (hardware/index.ts).
   */
  readonly unitModule?: { readonly module: string; readonly export: string };
  /**
   * Explore the boot's own interleavings (async and deferred probes) too.
   * By default the boot is the set-up: it runs alone with fixed choices
   * before the tasks start, and exploration starts from its snapshot.
   */
  readonly exploreBoot?: boolean;
}

/**
 * The program of a kernel-model run: driver-core, pci, iommu-core, one actor
 * per IOMMU unit, one lock manager; a `boot` task that registers drivers and
 * enumerates devices, and the scenario's tasks, each of which waits for the
 * boot to complete before its first call.
 */
export function kernelProgram(spec: KernelProgramSpec): Program {
  // SR-IOV PFs' VFs are derived devices every actor sees (protocol/topology.ts withVirtfns)
  const config: KernelConfig = { topology: withVirtfns(spec.topology), variants: resolveVariants(spec.variants) };

  const actors: ActorSpec[] = [
    { id: DRIVER_CORE, module: 'actors/driver-core/index', export: 'driverCore', config },
    { id: PCI, module: 'actors/pci/index', export: 'pci', config },
    { id: IOMMU_CORE, module: 'actors/iommu-core/index', export: 'iommuCore', config },
    ...spec.topology.units.map((u) => {
      const unit = spec.unitModule ?? unitModuleFor(u);
      return { id: actorId(unitActor(u.name)), module: unit.module, export: unit.export, config: { ...config, unit: u.name } };
    }),
    ...(needsVfio(spec) ? [{ id: VFIO, module: 'actors/vfio/index', export: 'vfio', config }] : []),
    ...(spec.processes ?? []).map((p) => ({ id: processActor(p.name), module: 'actors/userspace/process', export: 'userProcess', config: { name: p.name } })),
    lockManagerSpec(),
  ];
  const tasks: TaskSpec[] = [
    { id: taskId('boot'), to: DRIVER_CORE, op: 'boot', body: null },
    ...spec.tasks.map((t) => ({ id: taskId(t.id), to: DRIVER_CORE, op: 'after_boot', body: { calls: t.calls } })),
    ...(spec.processes ?? []).map((p) => ({
      id: taskId(processTask(p.name)), to: processActor(p.name), op: 'main',
      body: { ops: p.ops, ...(p.onRequest !== undefined ? { onRequest: p.onRequest } : {}), ...(p.stay !== undefined ? { stay: p.stay } : {}) },
    })),
  ];
  const setup = spec.exploreBoot === true ? {} : { setup: [taskId('boot')] };
  // The model actors record their state changes (test/dfs-touch.test.ts checks it); hardware
  // units and user processes keep state of their own the events do not describe.
  const recordedState = actors.map((a) => a.id).filter((id) => [DRIVER_CORE, PCI, IOMMU_CORE, VFIO].includes(id));
  return { name: spec.name, actors, lockManagers: [actorId('locks')], tasks, ...setup, recordedState };
}

/** The vfio actor runs when processes use it or a driver's probe/remove calls it (vfio-pci). */
function needsVfio(spec: KernelProgramSpec): boolean {
  const vfioAction = (a: { readonly do: string }): boolean => a.do.startsWith('vfio_');
  return (spec.processes ?? []).length > 0 || spec.topology.drivers.some((d) => [...(d.probe ?? []), ...(d.remove ?? [])].some(vfioAction));
}
