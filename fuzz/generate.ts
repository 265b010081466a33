import { FIXED_VARIANTS } from '../protocol/fixed-variants.ts';
import { VARIANT_AXES } from '../protocol/variants.ts';
import type { VariantAxis } from '../protocol/variants.ts';
import { InputError } from '../runtime/input-error.ts';
import { DOCUMENTS_TAKE_PROCESSES } from './document.ts';
import type { DocOp, DocProcess, DocTask, DocTopology, FuzzDocument } from './document.ts';
import { legalize } from './legal.ts';
import { generateOp, viewOf } from './ops-gen.ts';
import { Rand } from './rand.ts';
import { generateProcesses } from './process-gen.ts';
import { VFIO_PCI, generateTopology } from './topology-gen.ts';

/**
 * The workload generator: from one seed, a whole scenario document — a
 * random machine, two to four concurrent tasks of random ops, and a random
 * variant assignment (or the pinned one). Pure: the same seed and pins give
 * the same document, byte for byte.
 */

/** Axes pinned to a value (`--variant AXIS=VALUE`, `--fixed`); the others are drawn at random. */
export type VariantPins = Readonly<Partial<Record<VariantAxis, string>>>;

export interface GenerateOptions {
  readonly pins?: VariantPins;
}

/** Every axis pinned to its fixed value (`--fixed`). */
export const FIXED_PINS: VariantPins = FIXED_VARIANTS;

/**
 * Checks `--variant AXIS=VALUE` pins against protocol/variants.ts; a wrong
 * axis or value is bad input (exit 2) naming it.
 */
export function parsePins(given: readonly string[], fixed: boolean): VariantPins {
  const out: Record<string, string> = fixed ? { ...FIXED_VARIANTS } : {};
  for (const v of given) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new InputError(`--variant takes AXIS=VALUE (got "${v}")`, null, '--variant');
    const axis = v.slice(0, eq);
    const value = v.slice(eq + 1);
    if (!Object.hasOwn(VARIANT_AXES, axis)) throw new InputError(`unknown variant axis "${axis}" (axes: ${Object.keys(VARIANT_AXES).join(', ')})`, null, '--variant');
    const values: readonly string[] = VARIANT_AXES[axis as VariantAxis];
    if (!values.includes(value)) throw new InputError(`unknown value "${value}" for ${axis} (values: ${values.join(', ')})`, null, '--variant');
    out[axis] = value;
  }
  return out;
}

/** One value per axis: the pinned one, else a random one. */
export function generateVariants(r: Rand, pins: VariantPins): Record<string, readonly [string]> {
  const out: Record<string, readonly [string]> = {};
  for (const axis of Object.keys(VARIANT_AXES) as VariantAxis[]) {
    const values: readonly string[] = VARIANT_AXES[axis];
    out[axis] = [pins[axis] ?? r.pick(values)];
  }
  return out;
}

/** Random tasks for a machine (names t0, t1, ...), not yet legalized. */
export function generateTasks(r: Rand, topology: DocTopology): DocTask[] {
  const m = viewOf(topology);
  const n = r.weighted([[5, 2], [3, 3], [2, 4]] as const);
  const tasks: DocTask[] = [];
  for (let t = 0; t < n; t++) {
    const ops: DocOp[] = [];
    const count = r.weighted([[3, 1], [4, 2], [2, 3], [1, 4]] as const);
    for (let i = 0; i < count; i++) ops.push(generateOp(r, m));
    tasks.push({ name: `t${t}`, ops });
  }
  return tasks;
}

export function generateDocument(seed: number, opts: GenerateOptions = {}): FuzzDocument {
  const r = new Rand(seed);
  let topology = generateTopology(r);
  const tasks = generateTasks(r, topology);
  const variants = generateVariants(r, opts.pins ?? {});
  const hex = (seed >>> 0).toString(16).padStart(8, '0');
  let processes: DocProcess[] = [];
  if (DOCUMENTS_TAKE_PROCESSES) {
    if (r.chance(0.5)) topology = withVfioDevice(r, topology);
    processes = generateProcesses(r, topology);
  }
  const doc: FuzzDocument = { name: `fuzz-${hex}`, title: `generated workload (seed ${seed >>> 0})`, topology, variants, tasks, ...(processes.length > 0 ? { processes } : {}) };
  return legalize(doc, r);
}

/** The machine with (at least) one endpoint bound to vfio-pci at boot, for VFIO users to open. */
function withVfioDevice(r: Rand, t: DocTopology): DocTopology {
  if (t.pci.some((d) => d.driver === 'vfio-pci')) return t;
  const endpoints = t.pci.map((d, i) => [d, i] as const).filter(([d]) => d.bridge !== true && d.unit !== undefined && d.hotplug !== true);
  if (endpoints.length === 0) return t;
  const [dev, i] = r.pick(endpoints);
  const pci = [...t.pci];
  pci[i] = { ...dev, driver: 'vfio-pci' };
  const drivers = t.drivers.some((d) => d.name === 'vfio-pci') ? t.drivers : [...t.drivers, VFIO_PCI];
  return { ...t, pci, drivers };
}
