import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Call } from '../../protocol/kernel.ts';
import { virtfnBdf } from '../../protocol/topology.ts';
import type { PciDevSpec, PlatformDevSpec, Topology, UnitSpec } from '../../protocol/topology.ts';
import type { ProcessSpec } from '../../protocol/vfio.ts';
import { VARIANT_AXES, isVariantAxis } from '../../protocol/variants.ts';
import { findProfile, profileId, profileIds } from '../../hardware/profiles.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import { assignments } from '../scenario.ts';
import type { Expectation, Scenario } from '../scenario.ts';
import { actorId, taskId } from '../../protocol/ids.ts';
import type { KnownFinding } from '../../fuzz/known.ts';
import { patchSelected } from '../../runtime/patch.ts';
import type { Program } from '../../runtime/program.ts';
import { InputError } from '../../runtime/input-error.ts';
import { PasidContractChecker } from '../../checkers/api-contract/pasid-contract.ts';
import { compileContext, findOp } from './ops.ts';
import type { CompileContext } from './ops.ts';
import type { FieldType } from './ops.ts';
import { IOCTLS, PROCESS_OPS, compileProcOp, opensFd } from './process.ts';
import type { ProcFieldType } from './process.ts';
import { didYouMean, inputErrorOf, names, quote } from './issues.ts';
import { SYSFS_ATTRS, parseSysfsPath } from '../../protocol/sysfs.ts';
import { ScenarioDocumentSchema } from './schema.ts';
import { describeRules, readRules, ruleAxes, rulesFor } from './rules.ts';
import type { ScenarioDocument } from './schema.ts';

/**
 * Scenario documents (../shared/CLI.md "Scenario documents"; docs/scenarios.md):
 * JSON, or the default export of a TS/JS module, of this shape —
 *
 *   { name, title,
 *     topology: { units: [...], pci: [{ id, parent?, bridge?, acs?, unit?, ... }],
 *                 devices: [{ id, unit?, group?, driver? }]   (platform devices),
 *                 drivers: [...], mms?: [...], passthrough? },
 *     variants: { "<axis>": ["<value>", ...] }     (model axes, and "unit": hardware profiles),
 *     tasks: [{ name, ops: [{ op: "<op>", dev: "<id>", ... }] }],
 *     processes?: [{ name, ops: [{ op: "vfio.group.open", ... }], onRequest?, stay? }]   (process.ts),
 *     checkers?: { skip_invariants?: ["<invariant id>", ...], pasid_contract?: true },
 *     rules?: [{ when?, reason, lockdep?: {...}, invariants?: {...} }]   (rules.ts: kernel rules as data),

 *     expect: [{ when: { "<axis>": "<value>" }, findings?: ["<kind>", ...], includes?: [...], new?: [...] }],
 *     known?: [{ id, kind, signature, contains?, reason, reference, source: "upstream"|"model" }] }
 *
 * described once by schema.ts (every field's type) and refined here by the
 * checks that relate fields to each other (crossCheck), then compiled to a
 * Scenario whose programs are kernel-model programs. Every mistake is an
 * InputError naming the file and the path inside the document
 * (`tasks[0].ops[2].dev`), which the CLI turns into exit code 2.
 */

/** The scenario-level axis that picks the hardware profile of the machine's unit (not a model axis). */
export const UNIT_AXIS = 'unit';
const PROFILE_IDS: readonly string[] = profileIds();

/** A PCI BDF, "0000:00:1c.0" (domain:bus:device.function). */
const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;

type Path = readonly PropertyKey[];

/** The first cross-reference problem: thrown inside crossCheck, returned to the refinement. */
class Problem {
  readonly path: Path;
  readonly message: string;

  constructor(path: Path, message: string) {
    this.path = path;
    this.message = message;
  }
}

function fail(path: Path, message: string): never {
  throw new Problem(path, message);
}

/** What crossCheck needs besides the document. */
export interface CheckContext {
  /** Axes that the module's patches name in their `when` (their values are the module's to name). */
  readonly patchAxes: ReadonlySet<string>;
  /** The document's directory: relative plug-in unit modules are found from there. */
  readonly base: string | null;
}

/**
 * The checks that relate one field to others (the refinement of the schema):
 * a device's unit, driver, parent and alias exist (the parent declared
 * before, and a bridge); device ids are BDFs and unique; variant axes and
 * values are known; ops and actions name devices, drivers, slots and fds
 * that exist; expectations name axes and values the scenario has.
 */
export function crossCheck(doc: ScenarioDocument, ctx: CheckContext): Problem | null {
  try {
    checkAll(doc, ctx);
    return null;
  } catch (e) {
    if (e instanceof Problem) return e;
    throw e;
  }
}

function unknownName(what: string, v: string, known: Iterable<string>): string {
  const list = [...known];
  return `unknown ${what} ${quote(v)}${didYouMean(v, list)}${list.length > 0 ? ` (known: ${names(list)})` : ''}`;
}

function checkAll(doc: ScenarioDocument, ctx: CheckContext): void {
  const t = doc.topology;
  const units = t.units ?? [];
  const unitNames = new Set<string>();
  units.forEach((u, i) => {
    const w = ['topology', 'units', i];
    if (unitNames.has(u.name)) fail([...w, 'name'], `unit ${quote(u.name)} is declared twice`);
    unitNames.add(u.name);
    // a plug-in unit brings its own model; a built-in one needs a profile for its version
    if (u.module === undefined && findProfile(profileId(u.kind, u.version ?? null)) === null) {
      fail([...w, 'version'], `no hardware profile ${quote(profileId(u.kind, u.version ?? null))} (known: ${PROFILE_IDS.join(', ')})`);
    }
    if (u.module !== undefined && isPathModule(u.module)) {
      const file = resolveUnitModule(u.module, ctx.base);
      if (!existsSync(file)) fail([...w, 'module'], `no such module file ${quote(file)}`);
    }
  });
  const modules = new Map<string, boolean>();
  (t.modules ?? []).forEach((m, i) => {
    if (modules.has(m.name)) fail(['topology', 'modules', i, 'name'], `module ${quote(m.name)} is declared twice`);
    modules.set(m.name, m.boot !== false);
  });
  const drivers = new Map<string, 'pci' | 'platform'>();
  (t.drivers ?? []).forEach((d, i) => {
    if (drivers.has(d.name)) fail(['topology', 'drivers', i, 'name'], `driver ${quote(d.name)} is declared twice`);
    if (d.module !== undefined && !modules.has(d.module)) fail(['topology', 'drivers', i, 'module'], unknownName('module', d.module, modules.keys()));
    drivers.set(d.name, d.bus);
  });
  const ids = new Set<string>();
  const bridges = new Set<string>();
  const device = (o: { readonly id: string; readonly unit?: string; readonly driver?: string }, w: Path): void => {
    if (ids.has(o.id)) fail([...w, 'id'], `device ${quote(o.id)} is declared twice`);
    if (o.unit !== undefined && !unitNames.has(o.unit)) fail([...w, 'unit'], unknownName('unit', o.unit, unitNames));
    if (o.driver !== undefined && !drivers.has(o.driver)) fail([...w, 'driver'], unknownName('driver', o.driver, drivers.keys()));
  };
  const pci = t.pci ?? [];
  pci.forEach((d, i) => {
    const w = ['topology', 'pci', i];
    device(d, w);
    if (!BDF.test(d.id)) fail([...w, 'id'], `${quote(d.id)} is not a PCI BDF (domain:bus:device.function in lower-case hex, e.g. "0000:01:00.0")`);
    if (d.parent !== undefined) {
      if (d.parent === d.id) fail([...w, 'parent'], `device ${quote(d.id)} cannot be its own parent`);
      if (!ids.has(d.parent)) fail([...w, 'parent'], `unknown parent ${quote(d.parent)} (a parent must be declared before its children)${didYouMean(d.parent, ids)}`);
      if (!bridges.has(d.parent)) fail([...w, 'parent'], `parent ${quote(d.parent)} is not a bridge (devices sit below a device with "bridge": true)`);
    }
    ids.add(d.id);
    if (d.bridge === true) bridges.add(d.id);
  });
  // SR-IOV: each PF's VFs are devices too (protocol/topology.ts withVirtfns): ops may name them
  const pfs = new Map<string, number>();
  pci.forEach((d, i) => {
    const sr = d.sriov;
    if (sr === undefined) return;
    const w = ['topology', 'pci', i, 'sriov'];
    if (d.bridge === true) fail(w, `a bridge has no SR-IOV capability (${quote(d.id)} is a bridge)`);
    if (sr.vf_driver !== undefined) {
      if (!drivers.has(sr.vf_driver)) fail([...w, 'vf_driver'], unknownName('driver', sr.vf_driver, drivers.keys()));
      else if (drivers.get(sr.vf_driver) !== 'pci') fail([...w, 'vf_driver'], `driver ${quote(sr.vf_driver)} is not a PCI driver`);
    }
    for (let n = 0; n < sr.total_vfs; n++) {
      const vf = virtfnBdf(d.id, sr, n);
      if (!BDF.test(vf)) fail([...w, 'total_vfs'], `VF ${n} of ${quote(d.id)} would be at ${quote(vf)}, not a PCI BDF (offset/stride/total_vfs run off the bus range)`);
      if (ids.has(vf)) fail([...w, 'total_vfs'], `VF ${n} of ${quote(d.id)} would be at ${quote(vf)}, which is already a device`);
      ids.add(vf);
    }
    pfs.set(d.id, sr.total_vfs);
  });
  const pciIds = new Set(ids);
  pci.forEach((d, i) => {
    if (d.alias === undefined) return;
    if (d.alias === d.id) fail(['topology', 'pci', i, 'alias'], `device ${quote(d.id)} cannot alias itself`);
    if (!pciIds.has(d.alias)) fail(['topology', 'pci', i, 'alias'], unknownName('PCI device', d.alias, pciIds));
  });
  (t.devices ?? []).forEach((d, i) => {
    device(d, ['topology', 'devices', i]);
    ids.add(d.id);
  });
  const slots = new Set(pci.flatMap((d) => (d.slot === undefined ? [] : [d.slot])));
  const busOfId = new Map<string, 'pci' | 'platform'>([...pci.map((d) => [d.id, 'pci'] as const), ...(t.devices ?? []).map((d) => [d.id, 'platform'] as const)]);
  // a module that is not loaded at boot and that no op loads can never be unloaded: statically knowable
  const loadedSomewhere = new Set<string>([...modules].filter(([, boot]) => boot).map(([m]) => m));
  for (const task of doc.tasks) for (const op of task.ops) if (op.op === 'module.load') loadedSomewhere.add((op as Readonly<Record<string, unknown>>).module as string);
  const refs = new Refs(ids, drivers, slots, new Map(units.map((u) => [u.name, u.present_at_boot !== false])), busOfId, modules, loadedSomewhere, pfs);
  (t.drivers ?? []).forEach((d, i) => {
    if (d.sriov_configure === true && d.bus !== 'pci') fail(['topology', 'drivers', i, 'sriov_configure'], 'only a PCI driver has a sriov_configure callback');
    for (const list of ['probe', 'remove', 'reset_prepare', 'reset_done'] as const) {
      const actions = d[list];
      if (actions === undefined) continue;
      if ((list === 'reset_prepare' || list === 'reset_done') && d.bus !== 'pci') fail(['topology', 'drivers', i, list], 'only a PCI driver has err_handler reset callbacks');
      refs.actions(actions, ['topology', 'drivers', i, list]);
    }
  });

  const variants = doc.variants ?? {};
  const ownAxes = documentAxes(doc);
  for (const [axis, values] of Object.entries(variants)) {
    const w = ['variants', axis];
    if (axis !== UNIT_AXIS && !isVariantAxis(axis)) {
      if (!ctx.patchAxes.has(axis) && !ownAxes.has(axis)) {
        const axes = [...Object.keys(VARIANT_AXES), UNIT_AXIS];
        fail(w, `unknown variant axis ${quote(axis)} (one of: ${axes.join(', ')}, or an axis a patch's, a rule's, an op's or a program's "when" names)${didYouMean(axis, axes)}`);
      }
      continue;
    }
    const known: readonly string[] = axis === UNIT_AXIS ? PROFILE_IDS : VARIANT_AXES[axis as keyof typeof VARIANT_AXES];
    values.forEach((s, i) => {
      if (!known.includes(s)) fail([...w, i], `unknown value ${quote(s)} for ${axis} (one of: ${known.join(', ')})${didYouMean(s, known)}`);
    });
  }
  if (Object.hasOwn(variants, UNIT_AXIS)) {
    if (units.length !== 1) fail(['variants', UNIT_AXIS], `the ${UNIT_AXIS} axis picks the profile of the topology's only unit; this topology has ${units.length}`);
    if (units[0]!.module !== undefined) fail(['variants', UNIT_AXIS], `the ${UNIT_AXIS} axis cannot replace a plug-in unit (topology.units[0].module)`);
  }

  // `fixed`: model variant values for every row (not axes of the table)
  for (const [axis, value] of Object.entries(doc.fixed ?? {})) {
    const w = ['fixed', axis];
    if (!isVariantAxis(axis)) fail(w, `unknown model variant axis ${quote(axis)} (one of: ${Object.keys(VARIANT_AXES).join(', ')})${didYouMean(axis, Object.keys(VARIANT_AXES))}`);
    if (Object.hasOwn(variants, axis)) fail(w, `${quote(axis)} is an axis of this scenario's variants; a fixed value would hide it`);
    const known: readonly string[] = VARIANT_AXES[axis as keyof typeof VARIANT_AXES];
    if (!known.includes(value)) fail(w, `unknown value ${quote(value)} for ${axis} (one of: ${known.join(', ')})${didYouMean(value, known)}`);
  }
  const whenIn = (when: Readonly<Record<string, string>> | undefined, w: Path): void => {
    for (const [axis, value] of Object.entries(when ?? {})) {
      if (!Object.hasOwn(variants, axis)) fail([...w, 'when', axis], `${quote(axis)} is not an axis of this scenario (axes: ${Object.keys(variants).join(', ') || 'none'})${didYouMean(axis, Object.keys(variants))}`);
      const values = variants[axis]!;
      if (!values.includes(value)) fail([...w, 'when', axis], `${quote(value)} is not a value of ${axis} here (${values.join(', ')})${didYouMean(value, values)}`);
    }
  };

  const taskNames = new Set<string>();
  doc.tasks.forEach((task, i) => {
    if (taskNames.has(task.name) || task.name === 'boot') fail(['tasks', i, 'name'], `task name ${quote(task.name)} is ${task.name === 'boot' ? 'reserved' : 'used twice'}`);
    taskNames.add(task.name);
    task.ops.forEach((op, j) => {
      whenIn(op.when, ['tasks', i, 'ops', j]);
      refs.fields(op, findOp(op.op)!.fields, ['tasks', i, 'ops', j]);
    });
  });

  // `programs` replace the kernel model: nothing of it may be given besides
  if (doc.programs !== undefined) {
    const t = doc.topology;
    const given = [...(['units', 'pci', 'devices', 'drivers', 'mms'] as const).filter((k) => (t[k]?.length ?? 0) > 0).map((k) => `topology.${k}`),
      ...(doc.tasks.length > 0 ? ['tasks'] : []), ...((doc.processes?.length ?? 0) > 0 ? ['processes'] : []), ...(doc.fixed !== undefined ? ['fixed'] : []),
      ...(doc.checkers !== undefined ? ['checkers'] : []), ...(doc.rules !== undefined ? ['rules'] : [])];
    if (given.length > 0) fail(['programs'], `programs replace the kernel model; leave ${given.join(', ')} empty (topology {}, tasks [])`);
    doc.programs.forEach((p, i) => whenIn(p.when, ['programs', i]));
  }

  const procNames = new Set<string>();
  (doc.processes ?? []).forEach((p, i) => {
    const w = ['processes', i];
    if (procNames.has(p.name)) fail([...w, 'name'], `process name ${quote(p.name)} is used twice`);
    if (taskNames.has(`proc:${p.name}`)) fail([...w, 'name'], `process ${quote(p.name)} runs as task "proc:${p.name}", which a task already is`);
    procNames.add(p.name);
    const fds: string[] = [];
    p.ops.forEach((op, j) => {
      const o = op as Readonly<Record<string, unknown>>;
      const ow = [...w, 'ops', j];
      if (o.op !== undefined) {
        const name = o.op as string;
        const spec = name === 'ioctl' ? { ...IOCTLS[o.cmd as keyof typeof IOCTLS].fields, fd: 'fd' as const } : PROCESS_OPS.find((x) => x.name === name)?.fields ?? findOp(name)!.fields;
        refs.fields(o, spec, ow, fds);
      }
      const opened = opensFd(o);
      if (opened !== null && !fds.includes(opened)) fds.push(opened);
    });
  });

  (doc.expect ?? []).forEach((e, i) => {
    for (const [axis, value] of Object.entries(e.when ?? {})) {
      const w = ['expect', i, 'when', axis];
      if (!Object.hasOwn(variants, axis)) fail(w, `${quote(axis)} is not an axis of this scenario (axes: ${Object.keys(variants).join(', ') || 'none'})${didYouMean(axis, Object.keys(variants))}`);
      const values = variants[axis]!;
      if (!values.includes(value)) fail(w, `${quote(value)} is not a value of ${axis} here (${values.join(', ')})${didYouMean(value, values)}`);
    }
  });
}

/** References from ops and actions to the topology. */
class Refs {
  private readonly ids: ReadonlySet<string>;
  private readonly drivers: ReadonlyMap<string, string>;
  private readonly slots: ReadonlySet<string>;
  /** Unit name → present at boot. */
  private readonly units: ReadonlyMap<string, boolean>;
  /** SR-IOV PFs and their total_VFs. */
  private readonly pfs: ReadonlyMap<string, number>;
  private readonly buses: ReadonlyMap<string, 'pci' | 'platform'>;
  private readonly modules: ReadonlyMap<string, boolean>;
  private readonly loadedSomewhere: ReadonlySet<string>;

  constructor(
    ids: ReadonlySet<string>, drivers: ReadonlyMap<string, string>, slots: ReadonlySet<string>, units: ReadonlyMap<string, boolean>,
    buses: ReadonlyMap<string, 'pci' | 'platform'> = new Map(), modules: ReadonlyMap<string, boolean> = new Map(), loadedSomewhere: ReadonlySet<string> = new Set(),
    pfs: ReadonlyMap<string, number> = new Map(),
  ) {
    this.ids = ids;
    this.drivers = drivers;
    this.slots = slots;
    this.units = units;
    this.buses = buses;
    this.modules = modules;
    this.loadedSomewhere = loadedSomewhere;
    this.pfs = pfs;
  }

  /** A sysfs attribute path (protocol/sysfs.ts): an attribute the model serves, of a device or driver of this topology, readable or writable as the op needs. */
  sysfs(v: string, mode: 'read' | 'write', w: Path): void {
    const p = parseSysfsPath(v);
    if (typeof p === 'string') fail(w, `unknown attribute path ${quote(v)}: ${p}`);
    const info = SYSFS_ATTRS[p.attr];
    if (mode === 'read' && !info.show) fail(w, `${quote(v)} cannot be read: ${p.attr} has no show (write-only attribute)`);
    if (mode === 'write' && !info.store) fail(w, `${quote(v)} cannot be written: ${p.attr} has no store in the model (read-only attribute)`);
    if (p.kind === 'driver') {
      const bus = this.drivers.get(p.driver);
      if (bus === undefined) fail(w, `unknown attribute path ${quote(v)}: ${unknownName('driver', p.driver, this.drivers.keys())}`);
      if (bus !== p.bus) fail(w, `unknown attribute path ${quote(v)}: driver ${quote(p.driver)} is a ${bus} driver`);
      return;
    }
    const bus = this.buses.get(p.dev);
    if (bus === undefined) fail(w, `unknown attribute path ${quote(v)}: ${unknownName('device', p.dev, this.ids)}`);
    if (bus !== p.bus) fail(w, `unknown attribute path ${quote(v)}: device ${quote(p.dev)} is on the ${bus} bus`);
  }

  module(v: string, op: string, w: Path): void {
    if (!this.modules.has(v)) fail(w, unknownName('module', v, this.modules.keys()));
    if (op === 'module.unload' && !this.loadedSomewhere.has(v)) {
      fail(w, `module ${quote(v)} is not loaded: it is not loaded at boot ("boot": false) and no module.load op loads it`);
    }
  }

  /** An SR-IOV op's PF, and its `num_vfs` against the capability (sriov.enable: 1..total_vfs). */
  pf(o: Readonly<Record<string, unknown>>, v: string, w: Path): void {
    this.dev(v, [...w, 'dev']);
    const total = this.pfs.get(v);
    if (total === undefined) fail([...w, 'dev'], `${quote(v)} has no SR-IOV capability (give it "sriov": { "total_vfs": N } in topology.pci)${didYouMean(v, this.pfs.keys())}`);
    const n = o.num_vfs;
    if (typeof n === 'number' && (n < 1 || n > total)) fail([...w, 'num_vfs'], `num_vfs ${n} is out of range for ${quote(v)} (1..${total}, its total_vfs; sriov.disable writes 0)`);
  }

  dev(v: string, w: Path): void {
    if (!this.ids.has(v)) fail(w, unknownName('device', v, this.ids));
  }

  actions(list: readonly { readonly dev?: string }[], w: Path): void {
    list.forEach((a, i) => {
      if (a.dev !== undefined) this.dev(a.dev, [...w, i, 'dev']);
    });
  }

  fields(o: Readonly<Record<string, unknown>>, fields: Readonly<Record<string, FieldType | ProcFieldType>>, w: Path, fds: readonly string[] = []): void {
    for (const [f, type] of Object.entries(fields)) {
      const key = f.replace(/\?$/, '');
      const v = o[key];
      if (v === undefined) continue;
      const fw = [...w, key];
      const fd = (x: string, at: Path): void => {
        if (!fds.includes(x)) fail(at, `fd ${quote(x)} is not opened by an earlier op of this process (fds so far: ${fds.join(', ') || 'none'})${didYouMean(x, fds)}`);
      };
      switch (type) {
        case 'dev': this.dev(v as string, fw); break;
        case 'pf': this.pf(o, v as string, w); break;
        case 'driver': if (!this.drivers.has(v as string)) fail(fw, unknownName('driver', v as string, this.drivers.keys())); break;
        case 'unit': if (!this.units.has(v as string)) fail(fw, unknownName('unit', v as string, this.units.keys())); break;
        case 'late-unit':
          if (!this.units.has(v as string)) fail(fw, unknownName('unit', v as string, this.units.keys()));
          if (this.units.get(v as string) === true) fail(fw, `unit ${quote(v as string)} already exists at boot (its driver registered it before the first device_add): only a unit declared with "present_at_boot": false can be registered`);
          break;
        case 'slot': if (!this.slots.has(v as string)) fail(fw, `no device sits in slot ${quote(v as string)}${didYouMean(v as string, this.slots)}`); break;
        case 'actions': this.actions(v as readonly { readonly dev?: string }[], fw); break;
        case 'fd': fd(v as string, fw); break;
        case 'fds': (v as readonly string[]).forEach((x, i) => fd(x, [...fw, i])); break;
        case 'sysfs-readable': this.sysfs(v as string, 'read', fw); break;
        case 'sysfs-writable': this.sysfs(v as string, 'write', fw); break;
        case 'module': this.module(v as string, String(o.op), fw); break;
        default: break;
      }
    }
  }
}

function isPathModule(m: string): boolean {
  return m.startsWith('./') || m.startsWith('../') || path.isAbsolute(m) || m.startsWith('file:');
}

function resolveUnitModule(m: string, base: string | null): string {
  if (m.startsWith('file:')) return new URL(m).pathname;
  return path.isAbsolute(m) ? m : path.resolve(base ?? process.cwd(), m);
}

/** The axes a document's own `when`s name (rules, task ops, programs): their values are the document's to choose. */
function documentAxes(doc: ScenarioDocument): Set<string> {
  const out = ruleAxes(doc.rules);
  for (const t of doc.tasks) for (const op of t.ops) for (const axis of Object.keys(op.when ?? {})) out.add(axis);
  for (const p of doc.programs ?? []) for (const axis of Object.keys(p.when ?? {})) out.add(axis);
  return out;
}

const selects = (when: Readonly<Record<string, string>> | undefined, v: Readonly<Record<string, string>>): boolean =>
  Object.entries(when ?? {}).every(([axis, value]) => v[axis] === value);

/** The document checked by its schema and refinements: the first problem is an InputError naming `file`. */
export function checkDocument(doc: unknown, file: string, ctx: CheckContext = { patchAxes: new Set(), base: null }): ScenarioDocument {
  const r = ScenarioDocumentSchema.superRefine((d, c) => {
    const p = crossCheck(d, ctx);
    if (p !== null) c.addIssue({ code: 'custom', path: [...p.path], message: p.message, input: d });
  }).safeParse(doc, { reportInput: true });
  if (!r.success) throw inputErrorOf(r.error, doc, file);
  return r.data;
}

function compileTopology(doc: ScenarioDocument, base: string | null): Topology {
  const t = doc.topology;
  const units: UnitSpec[] = (t.units ?? []).map((u) => (u.module !== undefined && isPathModule(u.module) && base !== null ? { ...u, module: resolveUnitModule(u.module, base) } : u));
  const pci: PciDevSpec[] = (t.pci ?? []).map(({ id, ...rest }) => ({ ...rest, bdf: id }));
  const platform: PlatformDevSpec[] = (t.devices ?? []).map(({ id, ...rest }) => ({ ...rest, name: id }));
  return {
    units, pci, platform, drivers: t.drivers ?? [],
    ...(t.modules !== undefined ? { modules: t.modules } : {}),
    ...(t.mms !== undefined ? { mms: t.mms } : {}),
    ...(t.passthrough !== undefined ? { passthrough: t.passthrough } : {}),
  };
}

function taskCall(o: Readonly<Record<string, unknown>>, ctx: CompileContext): Call {
  const { when: _when, ...op } = o;
  return findOp(o.op as string)!.compile(op, ctx);
}

/** A patch of a scenario module, as the document sees it (the handlers stay in the module: runtime/patch.ts). */
export interface DocumentPatch {
  /** The module's URL: worker threads load the handlers from it. */
  readonly module: string;
  readonly name: string;
  readonly actor: string;
  readonly when: Readonly<Record<string, string>>;
  /** The kernel functions it replaces, with the unit kind of a vendor's own function (null: any actor of its kind). */
  readonly functions: readonly { readonly name: string; readonly unit: string | null }[];
}

/**
 * The kernel program for an assignment, with the patches the assignment
 * selects laid over their actors.
 */
function patchedProgram(base: (v: Readonly<Record<string, string>>) => Program, patches: readonly DocumentPatch[], v: Readonly<Record<string, string>>): Program {
  const program = base(v);
  const active = patches.filter((p) => patchSelected(p, v));
  if (active.length === 0) return program;
  return {
    ...program,
    actors: program.actors.map((a) => {
      const mine = active.filter((p) => p.actor === a.id).map((p) => ({ module: p.module, export: 'patches', name: p.name }));
      return mine.length === 0 ? a : { ...a, patches: [...(a.patches ?? []), ...mine] };
    }),
  };
}


function withUnit(t: Topology, profile: string | undefined): Topology {
  const p = profile === undefined ? null : findProfile(profile);
  if (p === null) return t;
  const { version: _v, ...unit } = t.units[0]!;
  return { ...t, units: [{ ...unit, kind: p.kind, ...(p.version !== null ? { version: p.version } : {}) }] };
}


/** Validates a scenario document and compiles it to a Scenario. `file` names it in errors. */
export function scenarioFromDocument(input: unknown, file: string, patches: readonly DocumentPatch[] = [], dir: string | null = null): Scenario {
  const doc = checkDocument(input, file, { patchAxes: new Set(patches.flatMap((p) => Object.keys(p.when))), base: dir });
  const name = doc.name;
  const title = doc.title ?? name;
  const topology = compileTopology(doc, dir);
  const variants: Record<string, readonly string[]> = doc.variants ?? {};
  const ctx = compileContext(topology);
  const tasksFor = (v: Readonly<Record<string, string>>) => doc.tasks.map((t) => ({ id: t.name, calls: t.ops.filter((o) => selects(o.when, v)).map((o) => taskCall(o, ctx)) }));
  const processes: ProcessSpec[] = (doc.processes ?? []).map((p) => ({
    name: p.name,
    ops: p.ops.map((o) => compileProcOp(o, (x) => ({ do: 'sysfs', call: taskCall(x, ctx) }))),
    ...(p.onRequest !== undefined ? { onRequest: p.onRequest } : {}),
    ...(p.stay !== undefined ? { stay: p.stay } : {}),
  }));
  const opts = { skipInvariants: doc.checkers?.skip_invariants ?? [], pasidContract: doc.checkers?.pasid_contract ?? false };
  const rules = readRules(file, doc.rules, variants);
  const fail = (where: string, what: string): never => {
    throw new InputError(what, file, where);
  };
  const expect: Expectation[] = (doc.expect ?? []).map((e, i) => {
    if (e.findings === undefined && e.includes === undefined && e.new === undefined) fail(`expect[${i}]`, 'an expectation needs "findings", "includes" or "new"');
    return {
      when: e.when ?? {},
      ...(e.findings !== undefined ? { findings: e.findings } : {}),
      ...(e.includes !== undefined ? { includes: e.includes } : {}),
      ...(e.new !== undefined ? { new: e.new } : {}),
    };
  });
  const known: KnownFinding[] = (doc.known ?? []).map((k) => ({ ...k }));
  // The unit axis picks the hardware profile, model axes go to the kernel model, a patch's own axes only select patches.
  const base = (v: Readonly<Record<string, string>>): Program => {
    const { [UNIT_AXIS]: unit, ...rest } = v;
    const model = { ...doc.fixed, ...Object.fromEntries(Object.entries(rest).filter(([axis]) => isVariantAxis(axis))) };
    return kernelProgram({ name, topology: withUnit(topology, unit), variants: model, tasks: tasksFor(v), ...(processes.length > 0 ? { processes } : {}) });
  };
  if (doc.programs !== undefined) return rawProgramScenario(doc, file, { name, title, variants, expect, input, patches });
  const actors = new Set(base({}).actors.map((a) => a.id as string));
  patches.forEach((p, i) => {
    if (!actors.has(p.actor)) fail(`patches[${i}].actor`, `no actor ${quote(p.actor)} in this scenario (actors: ${[...actors].join(', ')})${didYouMean(p.actor, actors)}`);
    const unit = p.actor.startsWith('unit:') ? topology.units.find((u) => `unit:${u.name}` === p.actor) : undefined;
    for (const f of p.functions) {
      if (f.unit !== null && unit !== undefined && unit.kind !== f.unit) fail(`patches[${i}].functions.${f.name}`, `${f.name}() is ${f.unit}'s; ${p.actor} is a ${unit.kind} unit`);
    }
    for (const [axis, value] of Object.entries(p.when)) {
      if (!(Object.hasOwn(variants, axis) ? variants[axis]! : []).includes(value)) fail(`patches[${i}].when.${axis}`, `${quote(value)} is not a value of the document's variants.${axis}`);
    }
  });
  return {
    name, title, variants, expect, document: input,
    ...(known.length > 0 ? { known } : {}),
    program: (v) => patchedProgram(base, patches, v),
    ...(rules.length > 0 ? { rules: (v: Readonly<Record<string, string>>) => describeRules(rules, v) } : {}),
    checkers: (v = {}) => {
      const base = kernelCheckers(rules.length === 0 ? (opts.skipInvariants.length > 0 ? { invariants: { skip: opts.skipInvariants } } : {}) : rulesFor(rules, v, opts.skipInvariants));
      return opts.pasidContract ? [...base, new PasidContractChecker()] : base;
    },
  };
}

/**
 * A document that gives its programs as the runtime runs them (`programs`;
 * the runtime's ABBA test): the first program whose `when` the assignment
 * matches, checked to exist for every assignment; the default checkers (no
 * kernel invariants: there is no kernel model).
 */
function rawProgramScenario(
  doc: ScenarioDocument, file: string,
  s: { name: string; title: string; variants: Readonly<Record<string, readonly string[]>>; expect: Expectation[]; input: unknown; patches: readonly DocumentPatch[] },
): Scenario {
  const programs = doc.programs ?? [];
  if (s.patches.length > 0) throw new InputError('programs scenarios take no patches (patch a kernel scenario\'s functions instead)', file, 'patches');
  // an axis the assignment leaves out takes its first value (the scenario's default row)
  const defaults = Object.fromEntries(Object.entries(s.variants).map(([axis, values]) => [axis, values[0] as string]));
  const pick = (v: Readonly<Record<string, string>>): Program => {
    const p = programs.find((x) => selects(x.when, { ...defaults, ...v }));
    if (p === undefined) throw new InputError(`no program for ${JSON.stringify(v)} (each assignment needs a program whose "when" it matches)`, file, 'programs');
    const raw = p.program;
    return {
      name: raw.name,
      actors: raw.actors.map((a) => ({ id: actorId(a.id), module: a.module, ...(a.export !== undefined ? { export: a.export } : {}), ...(a.config !== undefined ? { config: a.config } : {}) })),
      lockManagers: raw.lockManagers.map((l) => actorId(l)),
      tasks: raw.tasks.map((t) => ({ id: taskId(t.id), to: actorId(t.to), op: t.op, ...(t.body !== undefined ? { body: t.body } : {}) })),
      ...(raw.setup !== undefined ? { setup: raw.setup.map((t) => taskId(t)) } : {}),
    };
  };
  const scenario: Scenario = { name: s.name, title: s.title, variants: s.variants, expect: s.expect, document: s.input, program: pick };
  for (const v of assignments(scenario)) pick(v);
  return scenario;
}
