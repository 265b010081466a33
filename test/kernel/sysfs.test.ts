import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { InputError } from '../../runtime/input-error.ts';
import { scenarioFromDocument } from '../../scenarios/format/document.ts';
import { Lockdep } from '../../checkers/lockdep/lockdep.ts';
import { CANONICAL_ORDER } from '../../protocol/lock-classes.ts';
import type { LockClassName } from '../../protocol/lock-classes.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import { SYSFS_TOPOLOGY } from '../helpers/sysfs-topology.ts';
import type { KernelTask } from '../../scenarios/kernel/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { call, runKernel, unexpected } from '../helpers/kernel.ts';
import { explore } from '../../runtime/explore.ts';
import { WorkersHost } from '../../runtime/hosts/workers.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import type { Finding } from '../../protocol/findings.ts';

/**
 * sysfs over kernfs and module lifetimes (issue 16 items 3 and 4):
 * attribute reads and writes by path with kernfs active references,
 * of->mutex and kernfs_drain() in device_del(); driver modules loaded and
 * unloaded, their drivers' structs and names freed with them.
 */

const RP = '0000:00:1c.0';
const NIC = '0000:01:00.0'; // bound to "nic" (module nicmod, loaded at boot), FLR
const FREE = '0000:00:02.0'; // no driver, FLR; driver_override "stub" (module stubmod, not loaded at boot)
const NORESET = '0000:00:03.0'; // no reset method


const dev = (d: string, attr: string): string => `/sys/bus/pci/devices/${d}/${attr}`;
const drvAttr = (drv: string, attr: string): string => `/sys/bus/pci/drivers/${drv}/${attr}`;
const read = (path: string): Call => call(DRIVER_CORE, 'kernfs_fop_read_iter', { path });
const write = (path: string, value: string): Call => call(DRIVER_CORE, 'kernfs_fop_write_iter', { path, value });
const load = (module: string): Call => call(DRIVER_CORE, 'load_module', { module });
const unload = (module: string): Call => call(DRIVER_CORE, 'delete_module', { module });
const E = (name: string): { errno: string } => ({ errno: name });

interface DcView {
  readonly devices: Readonly<Record<string, { readonly driver: string | null; readonly registered: boolean; readonly driver_override?: string | null }>>;
  readonly drivers: readonly { readonly name: string; readonly registered: boolean }[];
  readonly loaded: Readonly<Record<string, { readonly state: string; readonly refcnt: number }>>;
  readonly kernfs: Readonly<Record<string, { readonly active: number; readonly deactivated: boolean }>>;
}

interface Case {
  readonly name: string;
  readonly calls: readonly Call[];
  /** Each call's return value (errno by name). */
  readonly want: readonly unknown[];
  /** The state after. */
  readonly after: (s: DcView) => void;
  /** Exactly these finding kinds. */
  readonly findings?: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: 'uevent of a bound device: DRIVER= line (dev_driver_uevent under klist_drivers k_lock)',
    calls: [read(dev(NIC, 'uevent'))], want: ['DRIVER=nic\n'],
    after: (s) => expect(s.kernfs[dev(NIC, 'uevent')]).toEqual({ active: 0, deactivated: false }),
  },
  {
    name: 'uevent of an unbound device: empty environment',
    calls: [read(dev(NORESET, 'uevent'))], want: [''], after: (s) => expect(s.devices[NORESET]!.driver).toBeNull(),
  },
  {
    name: 'a path of no device: -ENOENT at open',
    calls: [read(dev('0000:09:00.0', 'uevent'))], want: [E('ENOENT')], after: (s) => expect(s.kernfs[dev('0000:09:00.0', 'uevent')]).toBeUndefined(),
  },
  {
    name: 'reading a write-only attribute (reset): -EACCES at open',
    calls: [read(dev(NIC, 'reset'))], want: [E('EACCES')], after: (s) => expect(s.kernfs[dev(NIC, 'reset')]).toBeUndefined(),
  },
  {
    name: 'writing a read-only attribute (uevent has no store in the model): -EACCES',
    calls: [write(dev(NIC, 'uevent'), 'add')], want: [E('EACCES')], after: () => undefined,
  },
  {
    name: 'reset "1": pci_reset_function under the active reference, bytes written',
    calls: [write(dev(NIC, 'reset'), '1')], want: [1], after: (s) => expect(s.kernfs[dev(NIC, 'reset')]).toEqual({ active: 0, deactivated: false }),
  },
  {
    name: 'reset "0": -EINVAL (reset_store accepts only 1)',
    calls: [write(dev(NIC, 'reset'), '0')], want: [E('EINVAL')], after: (s) => expect(s.devices[NIC]!.driver).toBe('nic'),
  },
  {
    name: 'reset of a device without a reset method: -ENOTTY from pci_reset_function',
    calls: [write(dev(NORESET, 'reset'), '1')], want: [E('ENOTTY')], after: () => undefined,
  },
  {
    name: 'driver_override read: the boot-time override',
    calls: [read(dev(NIC, 'driver_override'))], want: ['nic\n'], after: (s) => expect(s.devices[NIC]!.driver_override).toBeUndefined(),
  },
  {
    name: 'driver_override cleared ("\\n"), read back as (null); the bound driver stays',
    calls: [write(dev(NIC, 'driver_override'), '\n'), read(dev(NIC, 'driver_override'))], want: [1, '(null)\n'],
    after: (s) => {
      expect(s.devices[NIC]!.driver_override).toBeNull();
      expect(s.devices[NIC]!.driver).toBe('nic');
    },
  },
  {
    name: 'unbind through drivers/nic/unbind, then bind again',
    calls: [write(drvAttr('nic', 'unbind'), NIC), read(dev(NIC, 'uevent')), write(drvAttr('nic', 'bind'), NIC)], want: [12, '', 12],
    after: (s) => expect(s.devices[NIC]!.driver).toBe('nic'),
  },
  {
    name: 'bind of a bound device: -EBUSY',
    calls: [write(drvAttr('pcieport', 'bind'), NIC)], want: [E('EBUSY')], after: (s) => expect(s.devices[NIC]!.driver).toBe('nic'),
  },
  {
    name: 'unbind of a device the driver does not drive: -ENODEV',
    calls: [write(drvAttr('nic', 'unbind'), NORESET)], want: [E('ENODEV')], after: (s) => expect(s.devices[NORESET]!.driver).toBeNull(),
  },
  {
    name: 'iommu_group/type of a DMA group reads DMA',
    calls: [read(dev(NORESET, 'iommu_group/type'))], want: ['DMA\n'], after: () => undefined,
  },
  {
    name: 'iommu_group/type identity on an unowned group: default domain rebuilt',
    calls: [write(dev(NORESET, 'iommu_group/type'), 'identity'), read(dev(NORESET, 'iommu_group/type'))], want: [8, 'identity\n'], after: () => undefined,
  },
  {
    name: 'iommu_group/type while a driver is bound: -EPERM (owner_cnt)',
    calls: [write(dev(NIC, 'iommu_group/type'), 'identity')], want: [E('EPERM')], after: (s) => expect(s.devices[NIC]!.driver).toBe('nic'),
  },
  {
    name: 'iommu_group/type with an unknown type: -EINVAL',
    calls: [write(dev(NORESET, 'iommu_group/type'), 'fast')], want: [E('EINVAL')], after: () => undefined,
  },
  {
    name: 'remove "1": kernfs_remove_self, then the device is gone and its files with it',
    calls: [write(dev(NORESET, 'remove'), '1'), read(dev(NORESET, 'uevent'))], want: [1, E('ENOENT')],
    after: (s) => expect(s.devices[NORESET]!.registered).toBe(false),
  },
  {
    name: 'remove "0": nothing removed',
    calls: [write(dev(NORESET, 'remove'), '0'), read(dev(NORESET, 'uevent'))], want: [1, ''], after: (s) => expect(s.devices[NORESET]!.registered).toBe(true),
  },
  {
    name: 'after hot removal the attribute is gone: -ENOENT (device_del removed the node)',
    calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: NIC }), read(dev(NIC, 'uevent'))], want: [0, E('ENOENT')],
    after: (s) => expect(s.kernfs[dev(NIC, 'uevent')]).toBeUndefined(),
  },
  {
    name: 'module.unload nicmod: driver_unregister unbinds the NIC, the module is freed',
    calls: [unload('nicmod'), read(dev(NIC, 'uevent')), write(drvAttr('nic', 'bind'), NIC)], want: [0, '', E('ENOENT')],
    after: (s) => {
      expect(s.devices[NIC]!.driver).toBeNull();
      expect(s.loaded.nicmod).toBeUndefined();
      expect(s.drivers.map((d) => d.name)).not.toContain('nic');
    },
  },
  {
    name: 'module.unload of a module not loaded: -ENOENT',
    calls: [unload('stubmod')], want: [E('ENOENT')], after: (s) => expect(s.loaded.stubmod).toBeUndefined(),
  },
  {
    name: 'module.load of a loaded module: -EEXIST',
    calls: [load('nicmod')], want: [E('EEXIST')], after: (s) => expect(s.loaded.nicmod).toEqual({ state: 'live', refcnt: 0 }),
  },
  {
    name: 'module.load of a module the topology does not have: -ENOENT',
    calls: [load('nosuch')], want: [E('ENOENT')], after: (s) => expect(s.loaded.nosuch).toBeUndefined(),
  },
  {
    name: 'module.load stubmod: driver_attach probes the device its driver_override names',
    calls: [load('stubmod'), read(dev(FREE, 'uevent'))], want: [0, 'DRIVER=stub\n'],
    after: (s) => {
      expect(s.devices[FREE]!.driver).toBe('stub');
      expect(s.loaded.stubmod).toEqual({ state: 'live', refcnt: 0 });
    },
  },
  {
    name: 'unload then load nicmod: the NIC is bound again by the new driver',
    calls: [unload('nicmod'), load('nicmod'), read(dev(NIC, 'uevent'))], want: [0, 0, 'DRIVER=nic\n'],
    after: (s) => expect(s.devices[NIC]!.driver).toBe('nic'),
  },
  {
    name: 'try_module_get pins nicmod: delete_module -EAGAIN (-EWOULDBLOCK) until module_put',
    calls: [call(DRIVER_CORE, 'try_module_get_driver', { dev: NIC }), unload('nicmod'), call(DRIVER_CORE, 'module_put_driver', { driver: 'nic' }), unload('nicmod')],
    want: [true, E('EAGAIN'), 0, 0], after: (s) => expect(s.loaded.nicmod).toBeUndefined(),
  },
  {
    name: 'a built-in driver has no module to pin: try_module_get succeeds, nothing counted',
    calls: [call(DRIVER_CORE, 'try_module_get_driver', { dev: RP })], want: [true], after: (s) => expect(Object.keys(s.loaded)).toEqual(['nicmod']),
  },
];

describe('sysfs attributes over kernfs, and module lifetimes: one execution per case', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const run = await runKernel({ name: 'sysfs-case', topology: SYSFS_TOPOLOGY, tasks: [{ id: 't', calls: c.calls }] }, { seed: 1 });
      expect(run.result.outcome).toBe('completed');
      expect(run.result.results.t).toEqual(c.want);
      expect(run.result.findings.map((f) => f.kind)).toEqual(c.findings ?? []);
      c.after(run.driverCore as DcView);
    });
  }
});

// ---- concurrency: sysfs reads during unbind and removal, module load/unload while devices probe ----------------

export const HAPPY_FOR_DEBUG: readonly KernelTask[] = [
  // udev reads the NIC's uevent and override while the NIC is unbound and bound again and its module reloaded
  { id: 'udev', calls: [read(dev(NIC, 'uevent')), read(dev(NIC, 'driver_override')), read(dev(NIC, 'uevent')), read(dev(NIC, 'iommu_group/type'))] },
  { id: 'admin', calls: [write(drvAttr('nic', 'unbind'), NIC), write(drvAttr('nic', 'bind'), NIC)] },
  { id: 'rmmod', calls: [unload('nicmod'), load('nicmod')] },
  // a module whose driver probes FREE while FREE's attributes are read and written
  { id: 'modprobe', calls: [load('stubmod'), write(dev(FREE, 'reset'), '1')] },
  { id: 'reader', calls: [read(dev(FREE, 'uevent')), write(dev(NORESET, 'iommu_group/type'), 'identity'), read(dev(NORESET, 'driver_override'))] },
];

const HAPPY = HAPPY_FOR_DEBUG;
/** Removal while the device's files are read and written: device_del drains them. */
const REMOVAL: readonly KernelTask[] = [
  { id: 'remove', calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: NIC })] },
  { id: 'udev', calls: [read(dev(NIC, 'uevent')), read(dev(NIC, 'driver_override'))] },
  { id: 'reset', calls: [write(dev(NIC, 'reset'), '1')] },
  { id: 'self', calls: [write(dev(NORESET, 'remove'), '1')] },
];

const SEEDS = [1, 2, 3, 4, 5, 6];
/** What a task may get back in these races: the file gone, the driver not (yet/any more) there, the module busy. */
const RACE_ERRNOS = new Set(['ENOENT', 'ENODEV', 'EBUSY', 'EEXIST', 'EPERM', 'EAGAIN']);

function checkResults(tasks: readonly KernelTask[], results: Readonly<Record<string, unknown>>, what: string): void {
  for (const t of tasks) {
    for (const r of (results[t.id] ?? []) as readonly unknown[]) {
      if (typeof r === 'object' && r !== null) expect(RACE_ERRNOS.has((r as { errno: string }).errno), `${what} ${t.id}: ${JSON.stringify(r)}`).toBe(true);
    }
  }
}

const STRATEGIES = [['random', (s: number) => new RandomStrategy(s)], ['pct', (s: number) => new PctStrategy(s, 3)]] as const;

describe('sysfs and modules under concurrency: no finding', () => {
  for (const [name, strategy] of STRATEGIES) {
    it(`reads during unbind, module unload/load while devices probe, removal while files are open (${name}, inline, seeds 1-6)`, async () => {
      for (const seed of SEEDS) {
        for (const tasks of [HAPPY, REMOVAL]) {
          const run = await runKernel({ name: 'sysfs-happy', topology: SYSFS_TOPOLOGY, tasks }, { seed, strategy: strategy(seed) });
          expect(run.result.outcome, `seed ${seed}`).toBe('completed');
          expect(unexpected(run.result.findings), `seed ${seed}`).toEqual([]);
          checkResults(tasks, run.result.results, `seed ${seed}`);
        }
      }
    }, 120_000);

    it(`the same on worker threads: 6 schedules per task set on one host (${name}, workers)`, async () => {
      for (const tasks of [HAPPY, REMOVAL]) {
        const program = kernelProgram({ name: 'sysfs-happy', topology: SYSFS_TOPOLOGY, tasks });
        const host = await WorkersHost.create(program);
        try {
          const runs: { outcome: string; findings: readonly Finding[]; results: Readonly<Record<string, unknown>> }[] = [];
          await explore(host, program, strategy(1), {
            seed: 1, schedules: SEEDS.length, checkers: () => kernelCheckers(),
            onExecution: (r) => runs.push({ outcome: r.outcome, findings: r.findings, results: r.results }),
          });
          expect(runs.length).toBe(SEEDS.length);
          runs.forEach((r, i) => {
            expect(r.outcome, `schedule ${i}`).toBe('completed');
            expect(unexpected(r.findings), `schedule ${i}`).toEqual([]);
            checkResults(tasks, r.results, `schedule ${i}`);
          });
        } finally {
          await host.close();
        }
      }
    }, 240_000);
  }
});

/** The kernfs edges (kernel-facts §1.3) these paths make, outer → inner. */
const EXERCISED: readonly [LockClassName, LockClassName][] = [
  ['kn->active#reset', 'device_lock'],
  ['kn->active#driver_override', 'device_lock'],
  ['kn->active#type', 'group->mutex'],
  ['kn->active#uevent', 'klist->k_lock'],
  ['seq_file->lock', 'of->mutex'],
  ['of->mutex', 'device_lock'],
];

describe('lockdep without the preloaded order sees the kernfs active-reference edges', () => {
  it('show/store under kn->active, the drain under pci_rescan_remove_lock; no edge against the canonical order', async () => {
    const seen = new Set<string>();
    for (const seed of SEEDS) {
      for (const tasks of [HAPPY, REMOVAL]) {
        const run = await runKernel({ name: 'sysfs-edges', topology: SYSFS_TOPOLOGY, tasks }, { seed, strategy: new PctStrategy(seed, 3), checkers: [new Lockdep()] });
        for (const e of run.lockdep.dependencies()) seen.add(`${e.from} -> ${e.to}`);
      }
    }
    for (const [outer, inner] of EXERCISED) expect([...seen], `${outer} -> ${inner}`).toContain(`${outer} -> ${inner}`);
    // kernfs_drain's write acquisition: device_del under pci_rescan_remove_lock waited for an open file in some schedule
    expect([...seen].filter((e) => e.startsWith('pci_rescan_remove_lock -> kn->active#'))).not.toEqual([]);
    const twoWay = (d: (typeof CANONICAL_ORDER)[number]) => CANONICAL_ORDER.some((x) => x.outer === d.inner && x.inner === d.outer);
    expect(CANONICAL_ORDER.filter((d) => !twoWay(d) && seen.has(`${d.inner} -> ${d.outer}`))).toEqual([]);
  }, 240_000);
});

// ---- the driver's lifetime: what pins dev->driver->name against the module's unload ----------------------------

const EXAMPLE = path.resolve('scenarios/examples/patch-uevent-unload.ts');

interface RunJson {
  readonly findings: readonly { readonly kind: string; readonly report: string }[];
}

/** One CLI run of an example scenario under `variant`: PCT, 100 schedules, seed 1. */
async function runExample(file: string, variant: string): Promise<RunJson> {
  const r = await cli('run', file, '--variant', variant, '--strategy', 'pct', '--schedules', '100', '--seed', '1', '--json', '--out', mkdtempSync(path.join(tmpdir(), 'example-')));
  expect(r.code).toBe(0);
  return r.json as RunJson;
}

describe('a uevent read racing rmmod of the driver module (scenarios/examples/patch-uevent-unload.ts)', () => {
  const run = (variant: string): Promise<RunJson> => runExample(EXAMPLE, variant);

  it('7.0 (k_lock around READ_ONCE(dev->driver) and drv->name; driver_detach before free_module): clean', async () => {
    expect((await run('uevent=upstream')).findings).toEqual([]);
  }, 120_000);

  it('the pre-fix dev_uevent (plain loads, no lock): KASAN use-after-free of the driver and its name, and the data race', async () => {
    const f = (await run('uevent=unlocked')).findings;
    expect(f.map((x) => x.kind).sort()).toEqual(['data-race', 'unguarded-access', 'use-after-free', 'use-after-free']);
    const uaf = f.filter((x) => x.kind === 'use-after-free').map((x) => x.report).join('\n');
    expect(uaf).toContain('BUG: KASAN: slab-use-after-free in dev_driver_uevent');
    expect(uaf).toMatch(/Freed by task \d+:\n\s+free_module\n\s+delete_module/);
    expect(uaf).toContain('which belongs to the cache module_data');
  }, 120_000);

  it('driver_detach skipped by bus_remove_driver: the device still points into freed module memory', async () => {
    const f = (await run('detach=skipped')).findings;
    expect(f.map((x) => x.kind)).toEqual(['use-after-free', 'use-after-free']);
  }, 120_000);
});

describe('the kernfs active reference is a lock to lockdep (scenarios/examples/patch-drain-under-device-lock.ts)', () => {
  const file = path.resolve('scenarios/examples/patch-drain-under-device-lock.ts');
  const run = (variant: string): Promise<RunJson> => runExample(file, variant);

  it('7.0 device_del (attributes removed after device_lock is dropped) against a driver_override store: clean', async () => {
    expect((await run('remove=upstream')).findings).toEqual([]);
  }, 120_000);

  it('draining under device_lock: lockdep reports device_lock → kn->active#driver_override against the store, and the two tasks hang', async () => {
    const f = await run('remove=locked');
    expect(f.findings.map((x) => x.kind).sort()).toEqual(['deadlock', 'lock-order-inversion']);
    const inv = f.findings.find((x) => x.kind === 'lock-order-inversion')!.report;
    expect(inv).toContain('(kn->active#driver_override){++++}-{4:4}, at: kernfs_drain');
    expect(inv).toContain('(&dev->mutex){+.+.}-{4:4}, at: device_del');
    const dl = f.findings.find((x) => x.kind === 'deadlock')!.report;
    expect(dl).toMatch(/kernfs_drain_wait\n\s*kernfs_drain\n\s*__kernfs_remove\n\s*device_del/);
    expect(dl).toMatch(/mutex_lock\n\s*driver_set_override\n\s*sysfs_kf_write\n\s*kernfs_fop_write_iter/);
  }, 120_000);
});

// ---- bad input: exit 2 at load, naming the place ----------------------------------------------------------------

const DOC = {
  name: 'sysfs-doc',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [{ id: NIC, unit: 'vtd0', driver: 'nic' }],
    devices: [{ id: 'gpu0' }],
    drivers: [{ name: 'nic', bus: 'pci', module: 'nicmod' }, { name: 'stub', bus: 'pci', module: 'stubmod' }],
    modules: [{ name: 'nicmod' }, { name: 'stubmod', boot: false }],
  },
  tasks: [] as { name: string; ops: Record<string, unknown>[] }[],
};
const withOps = (...ops: Record<string, unknown>[]): typeof DOC => ({ ...DOC, tasks: [{ name: 't', ops }] });

describe('sysfs and module ops: load-time validation (zod schema + cross-checks)', () => {
  it('a valid document loads: every attribute path and module op', () => {
    const s = scenarioFromDocument(withOps(
      { op: 'sysfs.read', path: dev(NIC, 'uevent') }, { op: 'sysfs.read', path: dev(NIC, 'iommu_group/type') },
      { op: 'sysfs.write', path: dev(NIC, 'reset'), value: '1' }, { op: 'sysfs.write', path: drvAttr('nic', 'unbind'), value: NIC },
      { op: 'sysfs.read', path: '/sys/bus/platform/devices/gpu0/driver_override' },
      { op: 'module.unload', module: 'nicmod' }, { op: 'module.load', module: 'stubmod' }, { op: 'module.unload', module: 'stubmod' },
    ), 'ok.json');
    expect(s.name).toBe('sysfs-doc');
  });

  const bad: readonly [string, Record<string, unknown>, string, RegExp][] = [
    ['an attribute the model does not serve', { op: 'sysfs.read', path: dev(NIC, 'vendor') }, 'tasks[0].ops[0].path', /unknown attribute path ".*vendor": not an attribute the model serves/],
    ['a device the topology does not have', { op: 'sysfs.read', path: dev('0000:05:00.0', 'uevent') }, 'tasks[0].ops[0].path', /unknown device "0000:05:00.0"/],
    ['a PCI-only attribute on the platform bus', { op: 'sysfs.write', path: '/sys/bus/platform/devices/gpu0/reset', value: '1' }, 'tasks[0].ops[0].path', /reset is a pci device attribute/],
    ['a device on the other bus', { op: 'sysfs.read', path: '/sys/bus/platform/devices/0000:01:00.0/uevent' }, 'tasks[0].ops[0].path', /is on the pci bus/],
    ['reading a write-only attribute', { op: 'sysfs.read', path: dev(NIC, 'reset') }, 'tasks[0].ops[0].path', /cannot be read: reset has no show/],
    ['writing a read-only attribute', { op: 'sysfs.write', path: dev(NIC, 'uevent'), value: 'add' }, 'tasks[0].ops[0].path', /cannot be written/],
    ['an unknown driver\'s bind file', { op: 'sysfs.write', path: drvAttr('e1000', 'bind'), value: NIC }, 'tasks[0].ops[0].path', /unknown driver "e1000"/],
    ['a write without a value', { op: 'sysfs.write', path: dev(NIC, 'reset') }, 'tasks[0].ops[0].value', /./],
    ['an unknown module', { op: 'module.load', module: 'e1000' }, 'tasks[0].ops[0].module', /unknown module "e1000"/],
    ['unloading a module that is never loaded', { op: 'module.unload', module: 'stubmod' }, 'tasks[0].ops[0].module', /module "stubmod" is not loaded/],
  ];
  for (const [name, op, where, message] of bad) {
    it(`rejects: ${name} (${where})`, () => {
      let err: unknown;
      try {
        scenarioFromDocument(withOps(op), 'bad.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).where).toBe(where);
      expect((err as InputError).message).toMatch(message);
    });
  }

  it('rejects a driver naming an undeclared module (topology.drivers[0].module)', () => {
    expect(() => scenarioFromDocument({ ...DOC, topology: { ...DOC.topology, modules: [{ name: 'stubmod', boot: false }] } }, 'bad.json'))
      .toThrow(expect.objectContaining({ where: 'topology.drivers[0].module' }) as Error);
  });

  it('the CLI exits 2 naming the file and the op', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sysfs-bad-'));
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(withOps({ op: 'sysfs.read', path: dev(NIC, 'vendor') })));
    const r = await cli('run', file, '--schedules', '1', '--out', dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('bad.json');
    expect(r.err).toContain('tasks[0].ops[0].path');
  });

  it('`ops` lists the new ops with their arguments', async () => {
    const r = await cli('ops', '--json');
    const list = JSON.stringify(r.json);
    for (const name of ['sysfs.read', 'sysfs.write', 'module.load', 'module.unload']) expect(list).toContain(name);
    expect(list).toMatch(/sysfs\.write.*path.*value/);
  });
});
