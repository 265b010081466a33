import { describe, expect, it } from 'vitest';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { matchKnown } from '../../fuzz/known.ts';
import { isErrno } from '../../protocol/errno.ts';
import type { Finding } from '../../protocol/findings.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import { processTask } from '../../protocol/vfio.ts';
import type { ProcOp, ProcResult, ProcessSpec } from '../../protocol/vfio.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { call } from '../helpers/kernel.ts';
import { close, getDeviceFd, ioctl, makeHost, open, openContainer, openGroup, post, runOn, runVfio, setContainer, setIommu, sysfs, vfioProgram, wait } from '../vfio/helpers.ts';
import { PF, PF2, PLAIN, SRIOV_TOPOLOGY, VF0 } from './sriov-topology.ts';

/**
 * Issue 16's happy path for SR-IOV and KVM, concurrently with the old ops:
 * an administrator enables the PF's VFs (probed by vfio-pci under the PF's
 * device_lock); QEMU creates a VM with the KVM VFIO device, assigns VF 0
 * and an s390 zPCI function through their groups (KVM_DEV_VFIO_FILE_ADD,
 * then the device fds), shuts them down, and the administrator disables
 * SR-IOV again; meanwhile a second PF's VF comes and goes, and a function
 * reset and a bind/unbind run on other devices. Random and PCT schedules,
 * six seeds each, both hosts: no finding outside the known list (7.0's
 * sriov_numvfs_store() rescan-lock inversion is on it, a5338e365c45), and
 * every op succeeds. Then lockdep without the preloaded order sees the new
 * edges of these paths and none against the canonical order.
 */

const ZDEV = '0000:00:05.0';
const TOPO: Topology = { ...SRIOV_TOPOLOGY, pci: [...SRIOV_TOPOLOGY.pci, { bdf: ZDEV, unit: 'vtd0', driver: 'vfio-pci', zpci: true }] };

const fileAdd = (file: string): ProcOp => ioctl('kvm-vfio', { cmd: 'KVM_SET_DEVICE_ATTR', attr: 'KVM_DEV_VFIO_FILE_ADD', file });

const ADMIN: ProcessSpec = {
  name: 'admin',
  ops: [sysfs(PCI, 'sriov_numvfs_store', { dev: PF, num_vfs: 2 }), post('vfs'), wait('vm-done'), sysfs(PCI, 'sriov_numvfs_store', { dev: PF, num_vfs: 0 })],
};

const QEMU: ProcessSpec = {
  name: 'qemu',
  ops: [
    open({ kind: 'kvm' }, 'vm'), ioctl('vm', { cmd: 'KVM_CREATE_DEVICE' }, 'kvm-vfio'),
    openContainer(),
    openGroup(ZDEV, 'zgroup'), setContainer('zgroup'), setIommu(), fileAdd('zgroup'), getDeviceFd(ZDEV, 'zgroup', 'zdev'),
    wait('vfs'),
    openGroup(VF0, 'vfgroup'), setContainer('vfgroup'), fileAdd('vfgroup'), getDeviceFd(VF0, 'vfgroup', 'vf'),
    close('vf'), close('zdev'), close('kvm-vfio'), close('vfgroup'), close('zgroup'), close('container'), close('vm'),
    post('vm-done'),
  ],
};

const TASKS: readonly KernelTask[] = [
  { id: 'pf2', calls: [call(PCI, 'sriov_numvfs_store', { dev: PF2, num_vfs: 1 }), call(PCI, 'sriov_numvfs_store', { dev: PF2, num_vfs: 0 })] },
  { id: 'reset', calls: [call(PCI, 'pci_reset_function', { dev: PLAIN })] },
  { id: 'rebind', calls: [call(DRIVER_CORE, 'unbind_store', { dev: PLAIN, driver: 'nic' }), call(DRIVER_CORE, 'bind_store', { dev: PLAIN, driver: 'nic' })] },
];

const outsideKnown = (findings: readonly Finding[]): string[] => findings.filter((f) => matchKnown(f, null) === null).map((f) => `${f.kind}: ${f.title}\n${f.report}`);
const errnos = (r: unknown): unknown[] => (Array.isArray(r) ? r.flatMap((x) => (isErrno(x) ? [x.errno] : typeof (x as ProcResult)?.ret === 'string' && /^E[A-Z]+$/.test((x as ProcResult).ret as string) ? [(x as ProcResult).ret] : [])) : []);

const SEEDS = [1, 2, 3, 4, 5, 6];

describe('SR-IOV and a KVM VM with VFIO devices, concurrently with resets and binds', () => {
  for (const host of ['inline', 'workers'] as const) {
    for (const [name, strategy] of [['random', (s: number) => new RandomStrategy(s)], ['pct', (s: number) => new PctStrategy(s, 3)]] as const) {
      it(`${name} × 6 seeds, ${host}: completed, every op succeeds, nothing outside the known list`, async () => {
        // one host for the six executions (each starts from fresh state: runOn resets it)
        const program = vfioProgram({ name: 'sriov-kvm', topology: TOPO, tasks: TASKS, processes: [ADMIN, QEMU] });
        const h = await makeHost(program, host);
        try {
          for (const seed of SEEDS) {
            const run = await runOn(h, program, { seed, strategy: strategy(seed) });
            expect(run.result.outcome, `seed ${seed}`).toBe('completed');
            expect(outsideKnown(run.result.findings), `seed ${seed}`).toEqual([]);
            for (const t of [...TASKS.map((x) => x.id), processTask('admin'), processTask('qemu')]) expect(errnos(run.result.results[t]), `${t}, seed ${seed}`).toEqual([]);
          }
        } finally {
          await h.close();
        }
      }, 300_000);
    }
  }

  it('lockdep without the preloaded order sees the new edges (PF → VF nesting, kvm->lock, kv->lock, kvm_ref_lock) and none against the canonical order', async () => {
    const lockdep = new Lockdep();
    await runVfio({ name: 'edges', topology: TOPO, tasks: TASKS, processes: [ADMIN, QEMU] }, { seed: 1, checkers: [lockdep] });
    const seen = new Set(lockdep.dependencies().map((e) => `${e.from} -> ${e.to}`));
    for (const e of [
      'device_lock -> pci_rescan_remove_lock', // sriov_numvfs_store (a5338e365c45)
      'pci_rescan_remove_lock -> device_lock/1', // the VF's device_lock, nested in the PF's (the held list below)
      'device_lock/1 -> vfio.group_lock', // vfio-pci's probe of a VF
      'dev_set->lock -> vfio_group->kvm_ref_lock', // the first open's KVM reference
      'dev_set->lock -> kvm->lock', // the zPCI function's open_device
      'kvm->lock -> vfio_group->kvm_ref_lock', // kvm_device_release → kvm_vfio_release → vfio_file_set_kvm
      'kv->lock -> vfio_group->kvm_ref_lock', // kvm_vfio_file_add
    ]) expect([...seen], e).toContain(e);
    const vfNested = lockdep.dependencies().find((e) => e.to === 'device_lock/1' && e.from === 'pci_rescan_remove_lock');
    expect(vfNested?.trace.held.some((h) => h.includes(`${PF}->mutex (device_lock)`))).toBe(true);
    const twoWay = (d: (typeof CANONICAL_ORDER)[number]) => CANONICAL_ORDER.some((x) => x.outer === d.inner && x.inner === d.outer);
    const reversed = CANONICAL_ORDER.filter((d) => !twoWay(d) && seen.has(`${d.inner} -> ${d.outer}`));
    expect(reversed).toEqual([]);
  }, 120_000);
});
