import { SeededRng, mix } from '../runtime/rng.ts';
import type { DriverSpec, PciDevSpec, Topology, UnitKind, UnitSpec } from '../protocol/topology.ts';

/**
 * The machine a stress run boots: `units` IOMMU units of every kind in turn,
 * each translating a PCI segment of its own, and `devices` PCI functions
 * spread over those segments as small clusters hanging off ACS root ports.
 * Each cluster is a shape whose iommu group and churn the stress workload
 * knows (stress/churn.ts reads `clusters`, not the topology):
 *
 * - `nic`:    root port + one endpoint bound to a kernel driver (some with
 *             ATS/PASID, for the PASID paths);
 * - `vfio`:   root port + one endpoint bound to vfio-pci (a singleton group
 *             userspace opens);
 * - `mfd`:    root port + a two-function device without ACS between its
 *             functions: one group, fn0 on vfio-pci, fn1 on a kernel driver
 *             (the sibling whose bind races a VFIO claim, seed 000);
 * - `switch`: root port + a switch port without ACS + two endpoints: the
 *             switch and its endpoints are one group;
 * - `rmr`:    root port + an endpoint with a firmware direct-mapping region
 *             (RMRR/IVMD/RMR: require_direct).
 *
 * Pure and seeded: the same arguments give the same machine, so a replay's
 * scenario can be written out and read back exactly.
 */

export type ClusterKind = 'nic' | 'vfio' | 'mfd' | 'switch' | 'rmr';

export interface Cluster {
  readonly kind: ClusterKind;
  /** The root port (its own singleton group: ACS, pcieport). */
  readonly port: string;
  /** The endpoints, in topology order (for `switch`: the switch port first). */
  readonly devs: readonly string[];
  /** Each endpoint's boot driver (null: none). */
  readonly drivers: Readonly<Record<string, string | null>>;
}

export interface StressMachine {
  readonly topology: Topology;
  readonly clusters: readonly Cluster[];
}

export interface MachineSpec {
  /** PCI functions in total (root ports and switch ports included); at least 2 per unit, and every unit's share is used exactly. */
  readonly devices: number;
  readonly units: number;
  readonly seed: number;
}

const KINDS: readonly UnitKind[] = ['vtd', 'amd-vi', 'smmu-v3', 'mock'];

/** What one unit's PCI segment holds comfortably: 248 root ports (bus 00) and 255 bus numbers. */
export const MAX_DEVICES_PER_UNIT = 400;

/** The cluster shapes in the proportions a machine gets them (a deterministic deck, shuffled per segment). */
const DECK: readonly ClusterKind[] = ['nic', 'nic', 'nic', 'vfio', 'vfio', 'mfd', 'mfd', 'switch', 'rmr'];

/** Functions a cluster of each kind uses, root port included. */
const SIZE: Readonly<Record<ClusterKind, number>> = { nic: 2, vfio: 2, mfd: 3, switch: 4, rmr: 2 };

export const DRIVERS: readonly DriverSpec[] = [
  { name: 'pcieport', bus: 'pci' },
  { name: 'nic', bus: 'pci' },
  { name: 'vfio-pci', bus: 'pci', driver_managed_dma: true, probe: [{ do: 'vfio_register_group_dev' }], remove: [{ do: 'vfio_unregister_group_dev' }] },
];

const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
const bdf = (seg: number, bus: number, dev: number, fn: number): string => `${hex(seg, 4)}:${hex(bus, 2)}:${hex(dev, 2)}.${fn}`;

function unitSpec(i: number): UnitSpec {
  const kind = KINDS[i % KINDS.length] as UnitKind;
  const name = `${kind.replace('-', '')}${Math.floor(i / KINDS.length)}`;
  // the mock unit has no PASID support (hardware/mock.ts); the others get a 20-bit PASID space
  return kind === 'mock' ? { name, kind } : { name, kind, max_pasids: 1 << 20 };
}

/**
 * Builds the machine. Segment `u` belongs to unit `u`; its root ports are
 * devices 0..31 of bus 00 and each cluster gets the next free bus numbers
 * below its port, so there are at most 31 × 8 = 248 clusters per segment —
 * far more than 4,096 devices over 16 units need.
 */
export function generateMachine(spec: MachineSpec): StressMachine {
  if (!Number.isInteger(spec.units) || spec.units < 1) throw new RangeError('units must be a positive integer');
  if (!Number.isInteger(spec.devices) || spec.devices < 2 * spec.units) throw new RangeError(`devices must be at least 2 per unit (${2 * spec.units})`);
  if (spec.devices > MAX_DEVICES_PER_UNIT * spec.units) throw new RangeError(`devices must be at most ${MAX_DEVICES_PER_UNIT} per unit`);
  const units = Array.from({ length: spec.units }, (_, i) => unitSpec(i));
  const pci: PciDevSpec[] = [];
  const clusters: Cluster[] = [];
  const rng = new SeededRng(mix(spec.seed, 0x5eed));
  const perUnit = Array.from({ length: spec.units }, (_, u) => Math.floor(spec.devices / spec.units) + (u < spec.devices % spec.units ? 1 : 0));

  units.forEach((unit, seg) => {
    const u = unit.name;
    let left = perUnit[seg] as number;
    let nextBus = 1;
    let port = 0;
    let deck: ClusterKind[] = [];
    while (left >= 2) {
      if (deck.length === 0) deck = shuffle(rng, [...DECK]);
      let kind = deck.pop() as ClusterKind;
      // the mock unit has no identity domain, so firmware direct mappings cannot be honoured there
      if (kind === 'rmr' && unit.kind === 'mock') kind = 'nic';
      // never leave a single function over: it could not form a cluster
      if (SIZE[kind] > left || left - SIZE[kind] === 1) kind = left === 3 || left === 5 ? 'mfd' : left === 4 ? 'switch' : 'nic';
      // root ports: 8 functions per device number (multi-function root ports with ACS are common)
      const rp = bdf(seg, 0, Math.floor(port / 8), port % 8);
      port++;
      const bus = nextBus++;
      if (port > 248 || nextBus > 256) throw new RangeError(`segment ${seg} ran out of root ports or bus numbers`);
      pci.push({ bdf: rp, bridge: true, acs: true, unit: u, driver: 'pcieport' });
      const pasid = unit.kind !== 'mock' && rng.chance(0.5);
      const drivers: Record<string, string | null> = {};
      const add = (d: PciDevSpec): void => {
        pci.push(d);
        drivers[d.bdf] = d.driver ?? null;
      };
      switch (kind) {
        case 'nic': {
          const ep = bdf(seg, bus, 0, 0);
          add({ bdf: ep, parent: rp, unit: u, ats: true, ...(pasid ? { pasid_bits: 20 } : {}), driver: 'nic' });
          clusters.push({ kind, port: rp, devs: [ep], drivers });
          break;
        }
        case 'vfio': {
          const ep = bdf(seg, bus, 0, 0);
          add({ bdf: ep, parent: rp, unit: u, ats: true, driver: 'vfio-pci' });
          clusters.push({ kind, port: rp, devs: [ep], drivers });
          break;
        }
        case 'mfd': {
          const f0 = bdf(seg, bus, 0, 0);
          const f1 = bdf(seg, bus, 0, 1);
          add({ bdf: f0, parent: rp, unit: u, ats: true, driver: 'vfio-pci' });
          add({ bdf: f1, parent: rp, unit: u, ats: true, driver: 'nic' });
          clusters.push({ kind, port: rp, devs: [f0, f1], drivers });
          break;
        }
        case 'switch': {
          const sw = bdf(seg, bus, 0, 0);
          const below = nextBus++;
          if (below > 255) throw new RangeError(`segment ${seg} ran out of bus numbers`);
          const a = bdf(seg, below, 0, 0);
          const b = bdf(seg, below, 1, 0);
          add({ bdf: sw, parent: rp, bridge: true, unit: u, driver: 'pcieport' });
          add({ bdf: a, parent: sw, unit: u, driver: 'nic' });
          add({ bdf: b, parent: sw, unit: u, driver: 'nic' });
          clusters.push({ kind, port: rp, devs: [sw, a, b], drivers });
          break;
        }
        case 'rmr': {
          const ep = bdf(seg, bus, 0, 0);
          add({ bdf: ep, parent: rp, unit: u, ats: true, require_direct: true, driver: 'nic' });
          clusters.push({ kind, port: rp, devs: [ep], drivers });
          break;
        }
      }
      left -= SIZE[kind];
    }
  });
  return { topology: { units, pci, drivers: DRIVERS, mms: ['mm0'] }, clusters };
}

function shuffle<T>(rng: SeededRng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}
