import { describe, expect, it } from 'vitest';
import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { ActionResult } from '../../protocol/driver-actions.ts';
import type { DriverSnapshot } from '../../protocol/driver-core.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult, TraceEntry } from '../../runtime/execution.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { call, driverCall, groupOf, moduleCall, runKernel, taskResults, unexpected } from '../helpers/kernel.ts';
import type { KernelRun, RunOptions } from '../helpers/kernel.ts';

/**
 * The driver-core actor (actors/driver-core/) in the whole kernel model:
 * boot binding, sysfs bind/unbind, deferred and asynchronous probe, probe
 * failure unwind, bus_for_each_dev and device removal.
 */

const RP1 = '0000:00:1c.0'; // root port with ACS
const NIC = '0000:01:00.0'; // singleton group, "nic"
const RP2 = '0000:00:1d.0'; // root port with ACS
const FN0 = '0000:02:00.0'; // multi-function without ACS: shares a group with FN1; "slow" defers once
const FN1 = '0000:02:00.1'; // no driver at boot
const ASYNC = '0000:00:1f.0'; // on the root bus, "lazy" probes asynchronously
const PLAT = 'plat0'; // platform device without an IOMMU

const TOPOLOGY: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [
    { bdf: RP1, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: NIC, parent: RP1, unit: 'vtd0', driver: 'nic' },
    { bdf: RP2, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: FN0, parent: RP2, unit: 'vtd0', driver: 'slow' },
    { bdf: FN1, parent: RP2, unit: 'vtd0' },
    { bdf: ASYNC, unit: 'vtd0', driver: 'lazy' },
  ],
  platform: [{ name: PLAT, driver: 'plat' }],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci', probe: [{ do: 'dma_map', as: 'buf' }], remove: [{ do: 'dma_unmap', iova: 'buf' }] },
    { name: 'slow', bus: 'pci', defer: 1 },
    { name: 'lazy', bus: 'pci', async: true },
    { name: 'vfio-pci', bus: 'pci', driver_managed_dma: true },
    // iommu_attach_device() accepts singleton groups only: on FN1 it fails with -EINVAL
    { name: 'private', bus: 'pci', probe: [{ do: 'iommu_paging_domain_alloc', as: 'dom' }, { do: 'iommu_attach_device', domain: 'dom' }] },
    { name: 'plat', bus: 'platform' },
  ],
};

interface DeviceView {
  readonly bus: string;
  readonly driver: string | null;
  readonly bound: boolean;
  readonly dead: boolean;
  readonly registered: boolean;
  readonly freed: boolean;
  readonly drvdata: Readonly<Record<string, unknown>>;
  readonly deferrals: Readonly<Record<string, number>>;
}

interface DriverCoreView {
  readonly devices: Readonly<Record<string, DeviceView>>;
  readonly buses: { readonly pci: readonly string[]; readonly platform: readonly string[] };
  readonly deferred: { readonly pending: readonly string[]; readonly active: readonly string[] };
}

const dc = (run: KernelRun): DriverCoreView => run.driverCore as DriverCoreView;
const dev = (run: KernelRun, name: string): DeviceView => {
  const d = dc(run).devices[name];
  expect(d, `device ${name}`).toBeDefined();
  return d as DeviceView;
};

const bind = (d: string, driver: string): Call => call(DRIVER_CORE, 'bind_store', { dev: d, driver });
const unbind = (d: string, driver: string): Call => call(DRIVER_CORE, 'unbind_store', { dev: d, driver });
const E = (name: Errno['errno']): Errno => errno(name);

async function run(tasks: readonly KernelTask[], opts: RunOptions = {}): Promise<KernelRun> {
  const r = await runKernel({ name: 'driver-core', topology: TOPOLOGY, tasks }, { checkers: kernelCheckers(), ...opts });
  expect(r.result.outcome).toBe('completed');
  return r;
}

/** No findings at all: every path here is the kernel's correct one. */
function clean(r: KernelRun): void {
  expect(unexpected(r.result.findings)).toEqual([]);
}

/** The devices a bus_for_each_dev walk pinned, in order (klist_devices_get in the walker's frame). */
function walked(trace: readonly TraceEntry[]): string[] {
  return trace
    .flatMap((t) => t.events)
    .filter((e) => e.ev === 'get' && e.stack.includes('driver-core:klist_next') && e.stack.includes('driver-core:bus_for_each_dev'))
    .map((e) => (e.ev === 'get' ? String(e.obj) : ''));
}

/** One execution with the trace recorded (and no findings). */
async function runRecorded(tasks: readonly KernelTask[]): Promise<ExecutionResult> {
  const program = kernelProgram({ name: 'driver-core', topology: TOPOLOGY, tasks });
  const host = await InlineHost.create(program);
  try {
    const r = await runExecution(host, program, new RandomStrategy(1), { seed: 1, record: true, checkers: kernelCheckers() });
    expect(r.outcome).toBe('completed');
    expect(unexpected(r.findings)).toEqual([]);
    return r;
  } finally {
    await host.close();
  }
}

describe('driver-core: boot', () => {
  it('binds every device to the driver its topology names, deferred and async ones included', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await run([], { seed });
      clean(r);
      for (const [name, driver] of [[RP1, 'pcieport'], [NIC, 'nic'], [RP2, 'pcieport'], [FN0, 'slow'], [ASYNC, 'lazy'], [PLAT, 'plat']] as const) {
        expect(dev(r, name), name).toMatchObject({ driver, bound: true, dead: false, registered: true, freed: false });
      }
      expect(dev(r, FN1)).toMatchObject({ driver: null, bound: false });
      expect(dc(r).buses.pci).toEqual([RP1, NIC, RP2, FN0, FN1, ASYNC]);
      expect(dc(r).buses.platform).toEqual([PLAT]);
      // the probe's named result lives in the driver's drvdata
      expect(typeof dev(r, NIC).drvdata['buf']).toBe('number');
      // "slow" deferred once at boot and bound from the deferred work (deferred_probe_initcall)
      expect(dev(r, FN0).deferrals).toEqual({ slow: 1 });
      expect(dc(r).deferred).toMatchObject({ pending: [], active: [] });
      // kernel drivers hold the default domain: FN0's group counts one user
      expect(groupOf(r, FN0).owner_cnt).toBe(1);
    }
  });
});

describe('driver-core: how boot binds', () => {
  it('the deferred driver binds from deferred_probe_work_func, the async one from its helper, after device_unlock', async () => {
    const r = await runRecorded([]);
    const events = (r.trace ?? []).flatMap((t) => t.events);
    /** The root frame of the task that set dev->driver to `driver`. */
    const boundFrom = (d: string, driver: string): string[] => events
      .filter((e) => e.ev === 'access' && e.obj === d && e.field === 'driver' && e.op === 'write' && e.value === driver)
      .map((e) => e.stack[0] ?? '');
    expect(boundFrom(NIC, 'nic')).toEqual(['driver-core:boot']);
    expect(boundFrom(FN0, 'slow')).toEqual(['driver-core:deferred_probe_work_func']);
    expect(boundFrom(ASYNC, 'lazy')).toEqual(['driver-core:__device_attach_async_helper']);
    // B14: the helper is scheduled only after __device_attach released the device_lock
    const lockOps = events.filter((e) => e.task === 'boot' && (e.ev === 'lock.released' || e.ev === 'send'));
    const spawnAt = lockOps.findIndex((e) => e.ev === 'send' && e.op === '__device_attach_async_helper');
    const unlockAt = lockOps.findIndex((e) => e.ev === 'lock.released' && e.lock.id === `${ASYNC}->mutex`);
    expect(unlockAt).toBeGreaterThan(-1);
    expect(spawnAt).toBeGreaterThan(unlockAt);
  });
});

describe('driver-core: sysfs bind/unbind', () => {
  it('unbind then bind returns 0 twice and leaves the driver bound', async () => {
    const r = await run([{ id: 'rebind', calls: [unbind(NIC, 'nic'), bind(NIC, 'nic')] }]);
    clean(r);
    expect(taskResults(r, 'rebind')).toEqual([0, 0]);
    expect(dev(r, NIC)).toMatchObject({ driver: 'nic', bound: true });
    expect(groupOf(r, NIC).owner_cnt).toBe(1);
  });

  it('rejects an unknown driver, a driver not bound, a second bind and a bus mismatch', async () => {
    const r = await run([{
      id: 't',
      calls: [bind(NIC, 'no-such-driver'), unbind(NIC, 'vfio-pci'), bind(NIC, 'nic'), bind(NIC, 'plat'), bind('nothing', 'nic')],
    }]);
    clean(r);
    expect(taskResults(r, 't')).toEqual([E('ENODEV'), E('ENODEV'), E('EBUSY'), E('ENODEV'), E('ENODEV')]);
    expect(dev(r, NIC)).toMatchObject({ driver: 'nic', bound: true });
  });

  it('hands a device to vfio-pci (driver_managed_dma: no default-domain user)', async () => {
    const r = await run([{ id: 't', calls: [unbind(NIC, 'nic'), bind(NIC, 'vfio-pci')] }]);
    clean(r);
    expect(taskResults(r, 't')).toEqual([0, 0]);
    expect(dev(r, NIC)).toMatchObject({ driver: 'vfio-pci', bound: true });
    expect(groupOf(r, NIC).owner_cnt).toBe(0);
  });

  it('bind after device_del is -ENODEV (the device left the bus klist)', async () => {
    const r = await run([{ id: 't', calls: [call(DRIVER_CORE, 'device_del', { dev: FN1 }), bind(FN1, 'nic')] }]);
    clean(r);
    expect(taskResults(r, 't')).toEqual([0, E('ENODEV')]);
    expect(dev(r, FN1)).toMatchObject({ dead: true, registered: false, driver: null, freed: false });
    expect(dc(r).buses.pci).not.toContain(FN1);
  });

  it('a failing probe action fails the bind with its errno and unwinds', async () => {
    const r = await run([{ id: 't', calls: [bind(FN1, 'private')] }]);
    clean(r);
    expect(taskResults(r, 't')).toEqual([E('EINVAL')]);
    expect(dev(r, FN1)).toMatchObject({ driver: null, bound: false, drvdata: {} });
    // dma_cleanup gave back the default-domain use dma_configure took: only FN0's driver counts
    expect(groupOf(r, FN1).owner_cnt).toBe(1);
  });

  it('a deferring driver bound by sysfs gives -EAGAIN, then binds', async () => {
    const topology: Topology = { ...TOPOLOGY, drivers: [...TOPOLOGY.drivers, { name: 'slow2', bus: 'pci', defer: 1 }] };
    const r = await runKernel({ name: 'dc', topology, tasks: [{ id: 't', calls: [bind(FN1, 'slow2'), bind(FN1, 'slow2')] }] }, { checkers: kernelCheckers() });
    clean(r);
    expect(taskResults(r, 't')).toEqual([E('EAGAIN'), 0]);
    expect(dev(r, FN1)).toMatchObject({ driver: 'slow2', bound: true });
    expect((r.driverCore as DriverCoreView).deferred.pending).toEqual([]);
  });
});

describe('driver-core: devices and references', () => {
  it('bus_for_each_dev visits the klist in order and returns the first non-zero result', async () => {
    const walk = (fn: Call): Call => call(DRIVER_CORE, 'bus_for_each_dev', { bus: 'pci', fn });
    const r = await runRecorded([{ id: 'w', calls: [walk({ to: PCI, op: 'pci_dev_is_disconnected' }), walk({ to: DRIVER_CORE, op: 'dev_driver_snapshot' })] }]);
    const [all, first] = r.results['w'] as [unknown, DriverSnapshot];
    expect(all).toBe(0);
    expect(first).toEqual({ driver: 'pcieport', driver_managed_dma: false });
    // every device once, in klist order; the second walk stopped at the first
    expect(walked(r.trace ?? [])).toEqual([RP1, NIC, RP2, FN0, FN1, ASYNC, RP1]);
  });

  it('device_unregister frees the device; a later walk skips it; no use-after-free', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const r = await run([
        { id: 'rm', calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: NIC })] },
        { id: 'walk', calls: [call(DRIVER_CORE, 'bus_for_each_dev', { bus: 'pci', fn: { to: PCI, op: 'pci_dev_is_disconnected' } })] },
      ], { seed, strategy: new PctStrategy(seed, 3) });
      clean(r);
      expect(taskResults(r, 'rm')).toEqual([0]);
      expect(taskResults(r, 'walk')).toEqual([0]);
      expect(dev(r, NIC)).toMatchObject({ dead: true, registered: false, driver: null, bound: false, freed: true });
      expect(dc(r).buses.pci).toEqual([RP1, RP2, FN0, FN1, ASYNC]);
    }
  });

  it('get_device keeps a removed device alive until put_device', async () => {
    const r = await run([{
      id: 't',
      calls: [call(DRIVER_CORE, 'get_device', { dev: FN1 }), call(DRIVER_CORE, 'device_unregister', { dev: FN1 }), call(DRIVER_CORE, 'put_device', { dev: FN1 })],
    }]);
    clean(r);
    expect(dev(r, FN1)).toMatchObject({ freed: true, registered: false });
  });

  it('a call on a device after its last put is a use-after-free', async () => {
    const r = await run([{
      id: 't',
      calls: [call(DRIVER_CORE, 'device_unregister', { dev: FN1 }), call(DRIVER_CORE, 'dev_driver_snapshot', { dev: FN1 })],
    }]);
    expect(r.result.findings.map((f) => f.kind)).toContain('use-after-free');
  });
});

describe('driver-core: driver and module actions', () => {
  it('driver_call runs as the bound driver, with its drvdata; an unbound device gets -ENODEV', async () => {
    const r = await run([{
      id: 't',
      calls: [
        driverCall(NIC, [{ do: 'dma_unmap', iova: 'buf' }, { do: 'dma_map', as: 'buf2' }, { do: 'yield' }]),
        driverCall(FN1, [{ do: 'dma_map', as: 'x' }]),
      ],
    }]);
    clean(r);
    const [nic, fn1] = taskResults(r, 't') as [ActionResult[], ActionResult[]];
    expect(nic.map((a) => a.do)).toEqual(['dma_unmap', 'dma_map', 'yield']);
    expect(typeof nic[1]?.ret).toBe('number');
    expect(fn1).toEqual([{ do: 'dma_map', ret: 'ENODEV' }]);
  });

  it('module_call keeps named results in the module and reports errnos by name', async () => {
    const r = await run([{
      id: 't',
      calls: [moduleCall([
        { do: 'iommu_paging_domain_alloc', dev: NIC, as: 'd' },
        { do: 'iommu_domain_free', domain: 'd' },
        { do: 'iommu_group_get', as: 'g' },
      ])],
    }]);
    const rets = (taskResults(r, 't')[0] as ActionResult[]).map((a) => a.ret);
    expect(typeof rets[0]).toBe('string');
    expect(rets[2]).toBe('ENODEV'); // a module has no device of its own
  });

  it('a device without an IOMMU does DMA directly', async () => {
    const r = await run([{ id: 't', calls: [driverCall(PLAT, [{ do: 'dma', iova: 0x1000 }])] }]);
    clean(r);
    expect(taskResults(r, 't')[0]).toEqual([{ do: 'dma', ret: { outcome: 'direct', target: null, domain: null } }]);
  });
});

describe('driver-core: concurrency', () => {
  it('unbind, bind, walk and removal interleave without findings', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const r = await run([
        { id: 'a', calls: [unbind(NIC, 'nic'), bind(NIC, 'nic')] },
        { id: 'b', calls: [bind(FN1, 'nic'), unbind(FN1, 'nic')] },
        { id: 'c', calls: [call(DRIVER_CORE, 'bus_for_each_dev', { bus: 'pci', fn: { to: DRIVER_CORE, op: 'device_attach' } })] },
        { id: 'd', calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: FN0 })] },
      ], { seed, strategy: seed % 2 === 0 ? new PctStrategy(seed, 3) : new RandomStrategy(seed) });
      clean(r);
      expect(dev(r, FN0)).toMatchObject({ freed: true, driver: null });
    }
  });
});

describe('driver-core: hosts', () => {
  it('the same execution in the inline and the workers host', async () => {
    const tasks: KernelTask[] = [
      { id: 'a', calls: [unbind(NIC, 'nic'), bind(NIC, 'vfio-pci')] },
      { id: 'b', calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: FN0 })] },
    ];
    const inline = await run(tasks, { seed: 3 });
    const workers = await run(tasks, { seed: 3, host: 'workers' });
    expect(workers.result.traceHash).toBe(inline.result.traceHash);
    expect(workers.driverCore).toEqual(inline.driverCore);
    clean(workers);
  }, 60_000);
});
