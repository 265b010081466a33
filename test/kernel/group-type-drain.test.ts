import { describe, expect, it } from 'vitest';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { call, runKernel, unexpected } from '../helpers/kernel.ts';
import { SYSFS_TOPOLOGY } from '../helpers/sysfs-topology.ts';

/**
 * Issue 16 item 3: the iommu_group's `type` file is drained when the group
 * is released. iommu_group_put() of the last reference → lib/kobject.c
 * kobject_cleanup() → __kobject_del() → sysfs_remove_dir() → kernfs_remove()
 * deactivates /sys/kernel/iommu_groups/N/type and kernfs_drain() waits for
 * the shows and stores in flight, before iommu_group_release() frees the
 * group (drivers/iommu/iommu.c). A read racing the release is refused
 * (-ENODEV from kernfs_get_active, -ENOENT once the file or the link is gone)
 * or waited for — and the path walk takes no group reference.
 */

const NIC = '0000:01:00.0'; // alone in its group (behind an ACS root port), bound to "nic"
const NORESET = '0000:00:03.0'; // unbound, its own group
const typePath = (d: string): string => `/sys/bus/pci/devices/${d}/iommu_group/type`;
const read = (path: string): Call => call(DRIVER_CORE, 'kernfs_fop_read_iter', { path });
const write = (path: string, value: string): Call => call(DRIVER_CORE, 'kernfs_fop_write_iter', { path, value });
const remove = (d: string): Call => call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: d });
const E = (name: string): { errno: string } => ({ errno: name });

interface View {
  readonly kernfs: Readonly<Record<string, { readonly active: number; readonly deactivated: boolean }>>;
}
interface CoreGroups { readonly groups: readonly { readonly id: string; readonly devices: readonly string[] }[] }

const groupOf = (core: CoreGroups, d: string): string | undefined => core.groups.find((g) => g.devices.includes(d))?.id;
const typeNode = (group: string): string => `/sys/kernel/iommu_groups/${group.slice('iommu_group.'.length)}/type`;

interface Case {
  readonly name: string;
  readonly calls: readonly Call[];
  readonly want: readonly unknown[];
  /** The state after: which group type nodes kernfs still has. */
  readonly nodes: readonly string[];
}

const CASES: readonly Case[] = [
  { name: 'a read makes the node; it stays while the group lives', calls: [read(typePath(NIC))], want: ['DMA\n'], nodes: [typeNode('iommu_group.1')] },
  { name: 'read, then the last member removed: the node is drained and removed with the group', calls: [read(typePath(NIC)), remove(NIC)], want: ['DMA\n', 0], nodes: [] },
  { name: 'the member removed, then a read: -ENOENT (no device, no link)', calls: [remove(NIC), read(typePath(NIC))], want: [0, E('ENOENT')], nodes: [] },
  { name: 'the member removed, then a write: -ENOENT', calls: [remove(NIC), write(typePath(NIC), 'identity')], want: [0, E('ENOENT')], nodes: [] },
  { name: 'a store, then the removal: the group released after the store returned', calls: [write(typePath(NORESET), 'identity'), remove(NORESET)], want: [8, 0], nodes: [] },
];

describe('the group `type` file and the group\'s release: one execution per case', () => {
  it('the NIC\'s group is iommu_group.1 in this topology (the cases name its node)', async () => {
    const run = await runKernel({ name: 'type-drain', topology: SYSFS_TOPOLOGY, tasks: [{ id: 't', calls: [] }] });
    expect(groupOf(run.core as CoreGroups, NIC)).toBe('iommu_group.1');
  });
  for (const c of CASES) {
    it(c.name, async () => {
      const run = await runKernel({ name: 'type-drain', topology: SYSFS_TOPOLOGY, tasks: [{ id: 't', calls: c.calls }] }, { seed: 1 });
      expect(run.result.outcome).toBe('completed');
      expect(run.result.results.t).toEqual(c.want);
      expect(run.result.findings).toEqual([]);
      expect(Object.keys((run.driverCore as View).kernfs).filter((p) => p.startsWith('/sys/kernel/iommu_groups/'))).toEqual(c.nodes);
    });
  }
});

const RACE: readonly KernelTask[] = [
  { id: 'reader', calls: [read(typePath(NIC))] },
  { id: 'remove', calls: [remove(NIC)] },
];

describe('a `type` read racing the release of its group (PCT depth 3, seeds 1–24)', () => {
  it('is answered, refused with -ENODEV or -ENOENT, or waited for by the drain; never a finding, the node never outlives the group', async () => {
    const outcomes = new Set<string>();
    const drainEdges = new Set<string>();
    for (let seed = 1; seed <= 24; seed++) {
      const lockdep = new Lockdep();
      const run = await runKernel({ name: 'type-race', topology: SYSFS_TOPOLOGY, tasks: RACE }, { seed, strategy: new PctStrategy(seed, 3), checkers: [...kernelCheckers(), lockdep] });
      expect(run.result.outcome, `seed ${seed}`).toBe('completed');
      expect(unexpected(run.result.findings), `seed ${seed}`).toEqual([]);
      const r = (run.result.results.reader as readonly unknown[])[0];
      outcomes.add(typeof r === 'string' ? r : (r as { errno: string }).errno);
      expect(groupOf(run.core as CoreGroups, NIC), `seed ${seed}`).toBeUndefined();
      expect(Object.keys((run.driverCore as View).kernfs).filter((p) => p.startsWith('/sys/kernel/iommu_groups/')), `seed ${seed}`).toEqual([]);
      for (const e of lockdep.dependencies()) if (e.to === 'kn->active#type') drainEdges.add(`${e.from} -> ${e.to}`);
    }
    // the kernel's outcomes: served (the group still had its domain, or had lost it: "unknown"), -ENODEV
    // (kernfs_get_active after the deactivation), -ENOENT (the walk after the link or the directory went)
    for (const o of outcomes) expect(['DMA\n', 'unknown\n', 'ENODEV', 'ENOENT']).toContain(o);
    expect(outcomes).toContain('ENODEV');
    expect(outcomes).toContain('DMA\n');
    // and in some schedule the release waited: kernfs_drain's write acquisition under pci_rescan_remove_lock
    expect([...drainEdges]).toContain('pci_rescan_remove_lock -> kn->active#type');
  }, 120_000);
});
