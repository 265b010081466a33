import { VARIANT_AXES } from '../protocol/variants.ts';
import type { VariantAxis } from '../protocol/variants.ts';
import { profileIds } from '../hardware/profiles.ts';
import type { UnitKind } from '../protocol/topology.ts';
import type { DriverAction } from '../protocol/driver-actions.ts';
import { DOCUMENTS_TAKE_PROCESSES } from './document.ts';
import type { DocOp, DocPci, DocProcess, DocTask, DocTopology, FuzzDocument } from './document.ts';
import type { VariantPins } from './generate.ts';
import { legalize } from './legal.ts';
import { anyDevice, generateOp, viewOf } from './ops-gen.ts';
import { generateProcess, vfioDevices } from './process-gen.ts';
import type { Rand } from './rand.ts';

/**
 * Mutations of a corpus document: insert, remove or swap ops, move an op
 * to another device, change the machine (a capability, a driver, a unit's
 * kind or version, a device more or less), change a variant. One to three
 * per child; the child is then legalized (legal.ts), which also drops ops
 * that name a device the machine no longer has.
 */

export type Mutation = 'insert-op' | 'remove-op' | 'swap-ops' | 'retarget' | 'topology' | 'variant' | 'process';

const MUTATIONS: readonly (readonly [number, Mutation])[] = [
  [4, 'insert-op'], [3, 'remove-op'], [3, 'swap-ops'], [3, 'retarget'], [3, 'topology'], [2, 'variant'],
  [DOCUMENTS_TAKE_PROCESSES ? 2 : 0, 'process'],
];

const MAX_TASKS = 5;
const MAX_OPS = 6;

type Tasks = DocTask[];

function cloneTasks(doc: FuzzDocument): Tasks {
  return doc.tasks.map((t) => ({ name: t.name, ops: [...t.ops] }));
}

function setOps(tasks: Tasks, i: number, ops: DocOp[]): void {
  tasks[i] = { name: (tasks[i] as DocTask).name, ops };
}

function freshTaskName(tasks: Tasks): string {
  for (let i = 0; ; i++) if (!tasks.some((t) => t.name === `t${i}`)) return `t${i}`;
}

function insertOp(r: Rand, doc: FuzzDocument, tasks: Tasks): void {
  const op = generateOp(r, viewOf(doc.topology));
  if (tasks.length < MAX_TASKS && (tasks.length === 0 || r.chance(0.25))) {
    tasks.push({ name: freshTaskName(tasks), ops: [op] });
    return;
  }
  const i = r.int(tasks.length);
  const ops = [...(tasks[i] as DocTask).ops];
  if (ops.length >= MAX_OPS) return;
  ops.splice(r.between(0, ops.length), 0, op);
  setOps(tasks, i, ops);
}

function removeOp(r: Rand, tasks: Tasks): void {
  const total = tasks.reduce((n, t) => n + t.ops.length, 0);
  if (total <= 1) return;
  const i = r.int(tasks.length);
  const ops = [...(tasks[i] as DocTask).ops];
  ops.splice(r.int(ops.length), 1);
  if (ops.length === 0) tasks.splice(i, 1);
  else setOps(tasks, i, ops);
}

/** Swaps two ops: inside one task (program order) or across two (which task runs it). */
function swapOps(r: Rand, tasks: Tasks): void {
  const a = r.int(tasks.length);
  const b = r.int(tasks.length);
  const opsA = [...(tasks[a] as DocTask).ops];
  const opsB = a === b ? opsA : [...(tasks[b] as DocTask).ops];
  const i = r.int(opsA.length);
  const j = r.int(opsB.length);
  const x = opsA[i] as DocOp;
  opsA[i] = opsB[j] as DocOp;
  opsB[j] = x;
  setOps(tasks, a, opsA);
  if (a !== b) setOps(tasks, b, opsB);
}

/** Moves an op that names a device to another device (a bind keeps a driver of the new device's bus). */
function retarget(r: Rand, doc: FuzzDocument, tasks: Tasks): void {
  const m = viewOf(doc.topology);
  const where: [number, number][] = [];
  tasks.forEach((t, i) => t.ops.forEach((op, j) => {
    if (typeof op.dev === 'string' || (op.op === 'module.call' && (op.actions as readonly DriverAction[]).some((a) => a.dev !== undefined))) where.push([i, j]);
  }));
  if (where.length === 0) return;
  const [i, j] = r.pick(where);
  const ops = [...(tasks[i] as DocTask).ops];
  const op = ops[j] as DocOp;
  const dev = op.op === 'pci.rescan' && m.hotplug.length > 0 ? r.pick(m.hotplug) : anyDevice(r, m);
  let next: DocOp;
  if (op.op === 'module.call') {
    next = { ...op, actions: (op.actions as readonly DriverAction[]).map((a) => (a.dev === undefined ? a : { ...a, dev })) };
  } else if (op.op === 'driver.bind' || op.op === 'driver.unbind') {
    const drivers = m.platform.includes(dev) ? m.platformDrivers : m.pciDrivers;
    if (drivers.length === 0) return;
    next = { ...op, dev, driver: op.op === 'driver.unbind' ? (m.bootDriver.get(dev) ?? r.pick(drivers)) : r.pick(drivers) };
  } else if (op.op.startsWith('pci.') && !m.pci.includes(dev)) {
    return;
  } else {
    next = { ...op, dev };
  }
  ops[j] = next;
  setOps(tasks, i, ops);
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

/** A change of the machine: one device's capability or driver, a unit's kind/version, a device added or removed. */
function mutateTopology(r: Rand, t: DocTopology): DocTopology {
  const pci = [...t.pci];
  const endpoints = pci.map((d, i) => [d, i] as const).filter(([d]) => d.bridge !== true);
  const bridges = pci.map((d, i) => [d, i] as const).filter(([d]) => d.bridge === true);
  const pciDrivers = t.drivers.filter((d) => d.bus === 'pci' && d.name !== 'pcieport').map((d) => d.name);
  const what = r.pick(['acs', 'capability', 'driver', 'unit', 'add', 'remove'] as const);
  const flip = (i: number, f: (d: DocPci) => DocPci): DocTopology => {
    pci[i] = f(pci[i] as DocPci);
    return { ...t, pci };
  };
  const without = <K extends keyof DocPci>(d: DocPci, key: K): DocPci => {
    const { [key]: _drop, ...rest } = d;
    return rest as DocPci;
  };
  switch (what) {
    case 'acs': {
      if (bridges.length === 0) return t;
      const [, i] = r.pick(bridges);
      return flip(i, (d) => (d.acs === true ? without(d, 'acs') : { ...d, acs: true }));
    }
    case 'capability': {
      if (endpoints.length === 0) return t;
      const [d0, i] = r.pick(endpoints);
      const unitKind = t.units.find((u) => u.name === d0.unit)?.kind;
      const cap = r.pick(['ats', 'pasid_bits', 'require_direct', 'reset_methods'] as const);
      return flip(i, (d) => {
        switch (cap) {
          case 'ats':
            return d.ats === true ? without(d, 'ats') : { ...d, ats: true };
          case 'pasid_bits':
            return d.pasid_bits !== undefined ? without(d, 'pasid_bits') : { ...d, pasid_bits: r.pick([5, 20]) };
          case 'require_direct':
            return d.require_direct === true || unitKind === undefined || unitKind === 'mock' ? without(d, 'require_direct') : { ...d, require_direct: true };
          case 'reset_methods':
            return { ...d, reset_methods: [r.pick(['flr', 'pm', 'bus', 'cxl_bus'] as const)] };
        }
      });
    }
    case 'driver': {
      if (endpoints.length === 0 || pciDrivers.length === 0) return t;
      const [, i] = r.pick(endpoints);
      return flip(i, (d) => (r.chance(0.2) ? without(d, 'driver') : { ...d, driver: r.pick(pciDrivers) }));
    }
    case 'unit': {
      const ui = r.int(t.units.length);
      const ids = profileIds();
      const id = r.pick(ids);
      const at = id.indexOf('@');
      const kind = (at < 0 ? id : id.slice(0, at)) as UnitKind;
      const { version: _v, attach_deferred: _a, ...rest } = t.units[ui] as DocTopology['units'][number];
      const units = [...t.units];
      units[ui] = { ...rest, kind, ...(at < 0 ? {} : { version: id.slice(at + 1) }) };
      // a mock has no firmware tables: no require_direct below it
      const name = (units[ui] as DocTopology['units'][number]).name;
      const fixed = kind === 'mock' ? pci.map((d) => (d.unit === name && d.require_direct === true ? without(d, 'require_direct') : d)) : pci;
      return { ...t, units, pci: fixed };
    }
    case 'add': {
      // a new endpoint below a bridge (or on the root bus), on a free device number
      const parent = bridges.length > 0 && r.chance(0.8) ? r.pick(bridges)[0] : undefined;
      const siblings = pci.filter((d) => d.parent === parent?.id);
      const bus = parent === undefined ? '00' : (siblings[0]?.id.slice(5, 7) ?? hex2(0x40 + r.int(0x40)));
      let devNo = parent === undefined ? 0x10 : 0;
      while (pci.some((d) => d.id.startsWith(`0000:${bus}:${hex2(devNo)}.`))) devNo++;
      const id = `0000:${bus}:${hex2(devNo)}.0`;
      if (pci.some((d) => d.id.slice(5, 7) === bus && d.parent !== parent?.id)) return t;
      const unit = t.units[0]?.name;
      pci.push({
        id, ...(parent !== undefined ? { parent: parent.id } : {}), ...(unit !== undefined ? { unit } : {}),
        ...(parent?.slot !== undefined ? {} : siblings[0]?.slot !== undefined ? { slot: siblings[0].slot } : {}),
        ...(r.chance(0.5) ? { ats: true } : {}), ...(pciDrivers.length > 0 && r.chance(0.7) ? { driver: r.pick(pciDrivers) } : {}),
      });
      return { ...t, pci };
    }
    case 'remove': {
      // a leaf that nothing points at (children, aliases)
      const leaves = endpoints.filter(([d]) => !pci.some((x) => x.parent === d.id || x.alias === d.id));
      if (leaves.length <= 1) return t;
      const [gone] = r.pick(leaves);
      return { ...t, pci: pci.filter((d) => d !== gone) };
    }
  }
}

/** A VFIO user replaced, added or removed. */
function mutateProcesses(r: Rand, t: DocTopology, processes: readonly DocProcess[]): DocProcess[] {
  const out = [...processes];
  const devs = vfioDevices(t);
  if (out.length > 0 && (devs.length === 0 || r.chance(0.3))) {
    out.splice(r.int(out.length), 1);
    return out;
  }
  if (devs.length === 0) return out;
  const i = out.length < 2 && r.chance(0.5) ? out.length : r.int(Math.max(1, out.length));
  const names = new Set(out.map((p) => p.name));
  let name = out[i]?.name;
  for (let n = 0; name === undefined; n++) if (!names.has(`qemu${n}`)) name = `qemu${n}`;
  out[i] = generateProcess(r, r.pick(devs), name);
  return out;
}

/** Processes whose ops name a device the machine no longer has are dropped. */
function dropDanglingProcesses(t: DocTopology, processes: readonly DocProcess[]): DocProcess[] {
  const devices = new Set([...t.pci.map((d) => d.id), ...t.devices.map((d) => d.id)]);
  return processes.filter((p) => p.ops.every((op) => typeof op.dev !== 'string' || devices.has(op.dev)));
}

/** Drops ops that name a device, slot or driver the machine does not have (after a topology change). */
function dropDangling(t: DocTopology, tasks: Tasks): Tasks {
  const devices = new Set([...t.pci.map((d) => d.id), ...t.devices.map((d) => d.id)]);
  const slots = new Set(t.pci.flatMap((d) => (d.slot === undefined ? [] : [d.slot])));
  const hotplug = new Set(t.pci.filter((d) => d.hotplug === true).map((d) => d.id));
  const ok = (op: DocOp): boolean => {
    if (typeof op.dev === 'string' && !devices.has(op.dev)) return false;
    if (typeof op.slot === 'string' && !slots.has(op.slot)) return false;
    if (op.op === 'pci.rescan' && !hotplug.has(op.dev as string)) return false;
    if (op.op === 'module.call' && (op.actions as readonly DriverAction[]).some((a) => a.dev !== undefined && !devices.has(a.dev))) return false;
    return true;
  };
  return tasks.map((task) => ({ name: task.name, ops: task.ops.filter(ok) })).filter((task) => task.ops.length > 0);
}

function mutateVariants(r: Rand, doc: FuzzDocument, pins: VariantPins): FuzzDocument['variants'] {
  const free = (Object.keys(VARIANT_AXES) as VariantAxis[]).filter((a) => pins[a] === undefined);
  if (free.length === 0) return doc.variants;
  const axis = r.pick(free);
  const values: readonly string[] = VARIANT_AXES[axis];
  return { ...doc.variants, [axis]: [r.pick(values)] };
}

/** A child of `doc`: one to three mutations, then legalized. `name` names the child. */
export function mutate(doc: FuzzDocument, r: Rand, pins: VariantPins, name: string): FuzzDocument {
  let topology = doc.topology;
  let variants = doc.variants;
  let tasks = cloneTasks(doc);
  let processes: readonly DocProcess[] = doc.processes ?? [];
  const n = r.between(1, 3);
  for (let i = 0; i < n; i++) {
    const cur: FuzzDocument = { ...doc, topology, variants, tasks };
    switch (r.weighted(MUTATIONS)) {
      case 'insert-op':
        insertOp(r, cur, tasks);
        break;
      case 'remove-op':
        removeOp(r, tasks);
        break;
      case 'swap-ops':
        if (tasks.length > 0) swapOps(r, tasks);
        break;
      case 'retarget':
        retarget(r, cur, tasks);
        break;
      case 'topology':
        topology = mutateTopology(r, topology);
        tasks = dropDangling(topology, tasks);
        processes = dropDanglingProcesses(topology, processes);
        break;
      case 'process':
        processes = mutateProcesses(r, topology, processes);
        break;
      case 'variant':
        variants = mutateVariants(r, cur, pins);
        break;
    }
  }
  // the campaign's pins hold for every child, whatever its parent ran
  const pinned = Object.fromEntries(Object.entries(variants).map(([axis, v]) => [axis, [pins[axis as VariantAxis] ?? v[0]] as const]));
  return legalize({ name, title: `mutated from ${doc.name}`, topology, variants: pinned, tasks, ...(processes.length > 0 ? { processes } : {}) }, r);
}
