import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { RandomStrategy } from '../runtime/strategies/random.ts';
import { DRIVER_CORE, PCI } from '../protocol/kernel.ts';
import type { Topology } from '../protocol/topology.ts';
import { kernelCheckers } from '../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../scenarios/kernel/program.ts';
import { REGISTER_BENCH } from '../scenarios/upstream/iommu-register.ts';

/**
 * The kernel model's cost per execution: a small machine (one VT-d unit,
 * two root ports with an endpoint each, a two-function device) booted, then
 * a sysfs bind racing an FLR. Boot is most of the steps: this is the figure
 * a boot snapshot would improve.
 */
const MACHINE: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd', max_pasids: 1 << 20 }],
  pci: [
    { bdf: '0000:00:1c.0', bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: '0000:01:00.0', parent: '0000:00:1c.0', unit: 'vtd0', ats: true, driver: 'nic' },
    { bdf: '0000:00:1d.0', bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: '0000:02:00.0', parent: '0000:00:1d.0', unit: 'vtd0' },
    { bdf: '0000:02:00.1', parent: '0000:00:1d.0', unit: 'vtd0' },
  ],
  drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }],
};

/** Executions per second (inline host, random schedules) and the steps of one execution. */
export async function kernelExecutionsPerSec(executions: number, withCheckers: boolean): Promise<{ perSec: number; steps: number }> {
  const program = kernelProgram({
    name: 'bench-kernel', topology: MACHINE,
    tasks: [
      { id: 'bind', calls: [{ to: DRIVER_CORE, op: 'bind_store', body: { dev: '0000:02:00.0', driver: 'nic' } }] },
      { id: 'flr', calls: [{ to: PCI, op: 'pci_reset_function', body: { dev: '0000:01:00.0' } }] },
    ],
  });
  const host = await InlineHost.create(program);
  try {
    const t0 = performance.now();
    const x = await explore(host, program, new RandomStrategy(1), { seed: 1, schedules: executions, ...(withCheckers ? { checkers: () => kernelCheckers() } : {}) });
    return { perSec: (x.executions * 1000) / (performance.now() - t0), steps: x.steps / x.executions };
  } finally {
    await host.close();
  }
}

/**
 * `kernel.register.executionsPerSec`: B5's machine at the fixed variants —
 * boot without dmar1, then iommu_device_register(dmar1) racing a rescan
 * whose two endpoints probe asynchronously (scenarios/upstream/iommu-register.ts).
 * Inline host, random schedules, with the kernel checkers; the boot is the
 * set-up snapshot, so the figure is the registration's own cost.
 */
export async function registerExecutionsPerSec(executions: number): Promise<{ perSec: number; steps: number }> {
  const program = kernelProgram({ name: 'bench-register', topology: REGISTER_BENCH.topology, tasks: REGISTER_BENCH.tasks });
  const host = await InlineHost.create(program);
  try {
    const t0 = performance.now();
    const x = await explore(host, program, new RandomStrategy(1), { seed: 1, schedules: executions, checkers: () => kernelCheckers() });
    return { perSec: (x.executions * 1000) / (performance.now() - t0), steps: x.steps / x.executions };
  } finally {
    await host.close();
  }
}
