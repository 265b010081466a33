import { SeededRng, mix } from '../runtime/rng.ts';
import type { ProcOp, ProcessSpec } from '../protocol/vfio.ts';
import { findOp } from '../scenarios/format/ops.ts';
import type { CompileContext } from '../scenarios/format/ops.ts';
import type { KernelTask } from '../scenarios/kernel/program.ts';
import type { Cluster, StressMachine } from './topology.ts';

/**
 * The churn of a stress run, one round at a time: `tasks` concurrent
 * episodes on a running system, each a short, complete piece of real
 * administration or use —
 *
 * - `rebind`:   sysfs unbind of a device's driver, then bind it again;
 * - `swap`:     hand a kernel-driven function to vfio-pci and back
 *               (unbind nic → bind vfio-pci → unbind vfio-pci → bind nic);
 * - `hotplug`:  sysfs remove of an endpoint or of a whole root port's
 *               subtree, then a rescan that brings it back (the sysfs path:
 *               pciehp surprise removal has a known lockdep report of its own,
 *               fuzz/known.ts);
 * - `reset`:    pci_reset_function() or pci_try_reset_function();
 * - `dma`:      the bound driver maps a buffer with the DMA API, the device
 *               DMAs to it, the driver unmaps it;
 * - `vfio`:     a userspace process opens a vfio-pci device — the legacy
 *               group + type1 container path or the cdev + iommufd path —
 *               maps memory, makes the device DMA, maybe resets it, and
 *               closes every fd again.
 *
 * Episodes are chosen on a few clusters per round so that they collide:
 * a VFIO open and a sibling's rebind on one group, a reset under a remove,
 * two binds of one device. What never shares a device in one round, and
 * why, is EXCLUSIVE below; a process runs one episode per round (its fd
 * names are its own).
 *
 * Every round starts from the booted machine (stress/engine.ts restores the
 * post-boot snapshot), so a round is a pure function of the machine, the
 * seed and its index, and replays on its own. Run concurrently, some steps
 * fail with the errno the kernel gives (EBUSY, ENODEV, EAGAIN) — that is
 * part of the churn.
 */

export type EpisodeKind = 'rebind' | 'swap' | 'hotplug' | 'reset' | 'dma' | 'vfio';

export const EPISODE_KINDS: readonly EpisodeKind[] = ['rebind', 'swap', 'hotplug', 'reset', 'dma', 'vfio'];

/** A scenario-document op (`iommu-lab ops`): `{ op: "driver.bind", dev, driver }`. */
export type DocOp = Readonly<Record<string, unknown>> & { readonly op: string };

/** A kernel episode as a scenario-document task: its name is its task id. */
export interface DocTask {
  readonly name: string;
  readonly ops: readonly DocOp[];
}

/**
 * One round's churn: kernel tasks written as scenario-document tasks (so a
 * round is also the task list of its replay's scenario) and process mains.
 * Task names repeat from round to round (`t0`, `t1`, ...; a process's main
 * is `proc:<name>`): every round is replayed on its own, from the boot.
 */
export interface Round {
  readonly index: number;
  readonly tasks: readonly DocTask[];
  /** Processes with an episode this round; `stay`, because the process lives on after its episode. */
  readonly processes: readonly ProcessSpec[];
  /** Episodes by kind, for the report. */
  readonly kinds: Readonly<Record<EpisodeKind, number>>;
}

/** A document task compiled to the kernel task it stands for (the same compiler a scenario document goes through). */
export function compileTask(t: DocTask, ctx: CompileContext): KernelTask {
  return {
    id: t.name,
    calls: t.ops.map((o) => {
      const spec = findOp(o.op);
      if (spec === undefined) throw new Error(`stress churn: unknown op ${o.op}`);
      return spec.compile(o, ctx);
    }),
  };
}

export interface ChurnSpec {
  /** Concurrent episodes per round. */
  readonly tasks: number;
  readonly seed: number;
  /** The userspace processes episodes run in (at most one episode per process per round). */
  readonly processes: readonly string[];
}

/** Names of the userspace processes a stress run with `tasks` episodes per round keeps. */
export function processNames(tasks: number): string[] {
  const n = Math.max(1, Math.min(8, Math.round(tasks / 8)));
  return Array.from({ length: n }, (_, i) => `vm${i}`);
}

const unbind = (dev: string, driver: string): DocOp => ({ op: 'driver.unbind', dev, driver });
const bind = (dev: string, driver: string): DocOp => ({ op: 'driver.bind', dev, driver });

/**
 * What an episode does to a device in its round: `life` changes its driver,
 * `gone` removes it (and a rescan adds it back), `dma` runs its driver's
 * work, `reset` resets it from sysfs, `user` is a VFIO user of it.
 */
type Use = 'life' | 'gone' | 'dma' | 'reset' | 'user';

/**
 * Pairs of uses that never share a device in one round, and why — the same
 * rules as the fuzzer's legality (fuzz/legal.ts). A driver must stop its
 * own work in remove, so its DMA racing its own unbind is a driver bug, not
 * the kernel's. The others are where the model cannot tell what the kernel
 * forbids (delete an entry when it learns to): a sysfs write to a device's
 * own file holds a kernfs active reference that removal drains, so a sysfs
 * reset, bind or unbind never overlaps the release of its device; and a
 * device a rescan is adding is not reached by a sysfs write before its IOMMU
 * probe (dma_configure's probe replay is not modelled: fuzz/known.ts
 * hot-add-iommu-probe-race). Everything else the model reports — upstream
 * issues and the model's other known departures — is left in and counted
 * as known.
 */
const EXCLUSIVE: readonly { readonly a: Use; readonly b: Use; readonly why: string }[] = [
  { a: 'dma', b: 'life', why: 'client rule: a driver stops its work in remove' },
  { a: 'dma', b: 'gone', why: 'client rule: a driver stops its work in remove' },
  { a: 'dma', b: 'dma', why: 'client rule: one buffer name per driver (drvdata)' },
  { a: 'reset', b: 'gone', why: 'model gap: no kernfs drain of a removed device\'s sysfs writers' },
  { a: 'life', b: 'gone', why: 'model gap: no kernfs drain; no probe replay for a device a rescan adds' },
];

class RoundBuilder {
  private readonly rng: SeededRng;
  private readonly uses = new Map<string, Set<Use>>();
  readonly tasks: DocTask[] = [];
  readonly processes: ProcessSpec[] = [];
  readonly kinds: Record<EpisodeKind, number> = { rebind: 0, swap: 0, hotplug: 0, reset: 0, dma: 0, vfio: 0 };

  constructor(rng: SeededRng) {
    this.rng = rng;
  }

  private has(dev: string, use: Use): boolean {
    return this.uses.get(dev)?.has(use) ?? false;
  }

  /** Whether every device of `devs` may take `use` this round (EXCLUSIVE). */
  private free(devs: readonly string[], use: Use): boolean {
    return devs.every((d) => EXCLUSIVE.every((x) => (x.a !== use && x.b !== use) || !this.has(d, x.a === use ? x.b : x.a)));
  }

  private take(devs: readonly string[], use: Use): void {
    for (const d of devs) {
      let s = this.uses.get(d);
      if (s === undefined) {
        s = new Set();
        this.uses.set(d, s);
      }
      s.add(use);
    }
  }

  private kernel(kind: EpisodeKind, ops: readonly DocOp[]): void {
    this.tasks.push({ name: `t${this.tasks.length}`, ops });
    this.kinds[kind]++;
  }

  /** Tries to add one episode of `kind` on `c`; false when it does not fit there this round. */
  add(kind: EpisodeKind, c: Cluster, proc: string | null): boolean {
    const rng = this.rng;
    const eps = c.devs.filter((d) => c.drivers[d] !== 'pcieport');
    const pick = (xs: readonly string[]): string => xs[rng.int(xs.length)] as string;
    switch (kind) {
      case 'rebind': {
        const dev = pick(eps);
        const drv = c.drivers[dev];
        if (drv === null || drv === undefined || !this.free([dev], 'life')) return false;
        this.take([dev], 'life');
        this.kernel(kind, [unbind(dev, drv), bind(dev, drv)]);
        return true;
      }
      case 'swap': {
        const nics = eps.filter((d) => c.drivers[d] === 'nic');
        if (nics.length === 0) return false;
        const dev = pick(nics);
        if (!this.free([dev], 'life')) return false;
        this.take([dev], 'life');
        this.kernel(kind, [unbind(dev, 'nic'), bind(dev, 'vfio-pci'), unbind(dev, 'vfio-pci'), bind(dev, 'nic')]);
        return true;
      }
      case 'hotplug': {
        // a whole cluster (its root port) or one endpoint below it
        const whole = rng.chance(0.3);
        const target = whole ? c.port : pick(eps);
        const gone = whole ? [c.port, ...c.devs] : [target];
        if (!this.free(gone, 'gone')) return false;
        this.take(gone, 'gone');
        this.kernel(kind, [{ op: 'pci.hot_remove', dev: target }, { op: 'pci.rescan', dev: target }]);
        return true;
      }
      case 'reset': {
        const dev = pick(eps);
        if (!this.free([dev], 'reset')) return false;
        this.take([dev], 'reset');
        this.kernel(kind, [{ op: rng.chance(0.5) ? 'pci.reset_function' : 'pci.try_reset_function', dev }]);
        return true;
      }
      case 'dma': {
        const nics = eps.filter((d) => c.drivers[d] === 'nic');
        if (nics.length === 0) return false;
        const dev = pick(nics);
        if (!this.free([dev], 'dma')) return false;
        this.take([dev], 'dma');
        // names live in the driver's drvdata: one per device, reused every round
        this.kernel(kind, [{ op: 'driver.call', dev, actions: [{ do: 'dma_map', as: 'buf' }, { do: 'dma', iova: 'buf' }, { do: 'dma_unmap', iova: 'buf' }] }]);
        return true;
      }
      case 'vfio': {
        if (proc === null) return false;
        const vdevs = eps.filter((d) => c.drivers[d] === 'vfio-pci');
        if (vdevs.length === 0) return false;
        const dev = pick(vdevs);
        if (!this.free([dev], 'user')) return false;
        this.take([dev], 'user');
        this.processes.push({ name: proc, ops: userOps(dev, rng.chance(0.6), rng), stay: true });
        this.kinds[kind]++;
        return true;
      }
    }
  }
}

/** A VFIO user of `dev`: legacy (group + type1 container) or native (cdev + iommufd); every fd closed at the end. */
function userOps(dev: string, legacy: boolean, rng: SeededRng): ProcOp[] {
  const iova = 0x1000 * (1 + rng.int(16));
  const vaddr = 1 + rng.int(16);
  const reset: ProcOp[] = rng.chance(0.3) ? [{ do: 'ioctl', fd: 'device', ioctl: { cmd: 'VFIO_DEVICE_RESET' } }] : [];
  const req: ProcOp = { do: 'ioctl', fd: 'device', ioctl: { cmd: 'VFIO_DEVICE_SET_IRQS', index: 'REQ' } };
  if (legacy) {
    return [
      { do: 'open', path: { kind: 'group', dev }, as: 'group' },
      { do: 'open', path: { kind: 'container' }, as: 'container' },
      { do: 'ioctl', fd: 'group', ioctl: { cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' } },
      { do: 'ioctl', fd: 'container', ioctl: { cmd: 'VFIO_SET_IOMMU' } },
      { do: 'ioctl', fd: 'group', ioctl: { cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev }, as: 'device' },
      req,
      { do: 'ioctl', fd: 'container', ioctl: { cmd: 'VFIO_IOMMU_MAP_DMA', iova, vaddr } },
      { do: 'dma', fd: 'device', iova },
      ...reset,
      { do: 'ioctl', fd: 'container', ioctl: { cmd: 'VFIO_IOMMU_UNMAP_DMA', iova } },
      { do: 'close', fd: 'device' },
      { do: 'close', fd: 'group' },
      { do: 'close', fd: 'container' },
    ];
  }
  return [
    { do: 'open', path: { kind: 'iommufd' }, as: 'iommufd' },
    { do: 'open', path: { kind: 'cdev', dev }, as: 'device' },
    { do: 'ioctl', fd: 'device', ioctl: { cmd: 'VFIO_DEVICE_BIND_IOMMUFD', iommufd: 'iommufd' }, as: 'devid' },
    req,
    { do: 'ioctl', fd: 'iommufd', ioctl: { cmd: 'IOMMU_IOAS_ALLOC' }, as: 'ioas' },
    { do: 'ioctl', fd: 'device', ioctl: { cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', pt: 'ioas' } },
    { do: 'ioctl', fd: 'iommufd', ioctl: { cmd: 'IOMMU_IOAS_MAP', ioas: 'ioas', iova, vaddr } },
    { do: 'dma', fd: 'device', iova },
    ...reset,
    { do: 'ioctl', fd: 'iommufd', ioctl: { cmd: 'IOMMU_IOAS_UNMAP', ioas: 'ioas', iova } },
    { do: 'ioctl', fd: 'device', ioctl: { cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' } },
    { do: 'close', fd: 'device' },
    { do: 'close', fd: 'iommufd' },
  ];
}

/** Episode weights: lifecycle churn and VFIO use dominate; resets and DMA keep the data paths busy. */
const WEIGHTS: readonly (readonly [EpisodeKind, number])[] = [['rebind', 3], ['swap', 1], ['hotplug', 2], ['reset', 2], ['dma', 2], ['vfio', 3]];
const TOTAL = WEIGHTS.reduce((n, [, w]) => n + w, 0);

function drawKind(rng: SeededRng): EpisodeKind {
  let x = rng.int(TOTAL);
  for (const [k, w] of WEIGHTS) {
    if (x < w) return k;
    x -= w;
  }
  return 'reset';
}

/**
 * The churn of round `index`: a pure function of the machine, the spec and
 * the index, so any round can be rebuilt for its replay. The round works on
 * a handful of clusters (about one per four episodes), which makes its
 * episodes meet; a VFIO episode on a two-function device is paired with a
 * rebind of the sibling function (seed 000's bind/claim race).
 */
export function roundChurn(m: StressMachine, spec: ChurnSpec, index: number): Round {
  const rng = new SeededRng(mix(spec.seed, index));
  const b = new RoundBuilder(rng);
  const hot = Array.from({ length: Math.max(1, Math.ceil(spec.tasks / 4)) }, () => m.clusters[rng.int(m.clusters.length)] as Cluster);
  const procs = [...spec.processes];
  let made = 0;
  for (let tries = 0; made < spec.tasks && tries < spec.tasks * 8; tries++) {
    const kind = drawKind(rng);
    const c = hot[rng.int(hot.length)] as Cluster;
    const proc = kind === 'vfio' ? (procs.shift() ?? null) : null;
    if (!b.add(kind, c, proc)) {
      if (proc !== null) procs.unshift(proc);
      continue;
    }
    made++;
    if (kind === 'vfio' && c.kind === 'mfd' && made < spec.tasks && b.add('rebind', { ...c, devs: c.devs.filter((d) => c.drivers[d] === 'nic') }, null)) made++;
  }
  return { index, tasks: b.tasks, processes: b.processes, kinds: b.kinds };
}
