import { isFindingKind } from '../../protocol/findings.ts';
import type { FindingKind } from '../../protocol/findings.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { DriverSpec, PciDevSpec, PlatformDevSpec, Topology, UnitKind, UnitSpec } from '../../protocol/topology.ts';
import { VARIANT_AXES, isVariantAxis } from '../../protocol/variants.ts';
import { findProfile, profileId, profileIds } from '../../hardware/profiles.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import type { Expectation, Scenario } from '../scenario.ts';
import { patchSelected } from '../../runtime/patch.ts';
import type { Program } from '../../runtime/program.ts';
import { PasidContractChecker } from '../../checkers/api-contract/pasid-contract.ts';
import { isInvariantId, INVARIANT_IDS } from '../../checkers/invariants/catalog.ts';
import { readProcesses } from './process.ts';
import { Reader, readActions, readTaskOp } from './reader.ts';
import type { Obj } from './reader.ts';

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
 *     expect: [{ when: { "<axis>": "<value>" }, findings: ["<kind>", ...] }] }
 *
 * compiled to a Scenario whose programs are kernel-model programs. Every
 * mistake is an InputError naming the file and the path inside the document
 * (`tasks[0].ops[2].dev`), which the CLI turns into exit code 2.
 */

const UNIT_KINDS: readonly UnitKind[] = ['vtd', 'amd-vi', 'smmu-v3', 'mock'];

/** The scenario-level axis that picks the hardware profile of the machine's unit (not a model axis). */
export const UNIT_AXIS = 'unit';
const PROFILE_IDS: readonly string[] = profileIds();

const PCI_KEYS = ['id', 'parent', 'bridge', 'acs', 'alias', 'unit', 'ats', 'pasid_bits', 'require_direct', 'attach_deferred', 'reset_methods', 'slot', 'driver', 'hotplug'];
const PLATFORM_KEYS = ['id', 'unit', 'group', 'driver', 'pasid_bits', 'require_direct'];

function readTopology(r: Reader, v: unknown): Topology {
  const t = r.obj(v, 'topology');
  r.keys(t, 'topology', ['units', 'pci', 'devices', 'drivers', 'mms', 'passthrough']);
  const units: UnitSpec[] = r.arr(t.units ?? [], 'topology.units').map((u, i) => {
    const w = `topology.units[${i}]`;
    const o = r.obj(u, w);
    r.keys(o, w, ['name', 'kind', 'version', 'max_pasids', 'attach_deferred', 'sva', 'module', 'export']);
    const kind = r.str(o.kind, `${w}.kind`);
    if (!(UNIT_KINDS as readonly string[]).includes(kind)) r.fail(`${w}.kind`, `unknown unit kind "${kind}" (one of: ${UNIT_KINDS.join(', ')})`);
    // a plug-in unit brings its own model; a built-in one needs a profile for its version
    const version = o.version === undefined ? null : r.str(o.version, `${w}.version`);
    if (o.module === undefined && findProfile(profileId(kind as UnitKind, version)) === null) {
      r.fail(`${w}.version`, `no hardware profile "${profileId(kind as UnitKind, version)}" (known: ${profileIds().join(', ')})`);
    }
    return { ...(o as unknown as UnitSpec), name: r.str(o.name, `${w}.name`), kind: kind as UnitKind };
  });
  const unitNames = new Set(units.map((u) => u.name));
  const drivers: DriverSpec[] = r.arr(t.drivers ?? [], 'topology.drivers').map((d, i) => {
    const w = `topology.drivers[${i}]`;
    const o = r.obj(d, w);
    r.keys(o, w, ['name', 'bus', 'driver_managed_dma', 'defer', 'async', 'probe', 'remove', 'reset_prepare', 'reset_done']);
    const bus = r.str(o.bus, `${w}.bus`);
    if (bus !== 'pci' && bus !== 'platform') r.fail(`${w}.bus`, `unknown bus "${bus}" (pci or platform)`);
    if (o.probe !== undefined) readActions(r, o.probe, `${w}.probe`);
    if (o.remove !== undefined) readActions(r, o.remove, `${w}.remove`);
    for (const cb of ['reset_prepare', 'reset_done'] as const) {
      if (o[cb] === undefined) continue;
      if (bus !== 'pci') r.fail(`${w}.${cb}`, 'only a PCI driver has err_handler reset callbacks');
      readActions(r, o[cb], `${w}.${cb}`);
    }
    return { ...(o as unknown as DriverSpec), name: r.str(o.name, `${w}.name`) };
  });
  const driverNames = new Set(drivers.map((d) => d.name));
  const ids = new Set<string>();
  const device = (o: Obj, w: string): string => {
    const id = r.str(o.id, `${w}.id`);
    if (ids.has(id)) r.fail(`${w}.id`, `device "${id}" is declared twice`);
    ids.add(id);
    if (o.unit !== undefined && !unitNames.has(r.str(o.unit, `${w}.unit`))) r.fail(`${w}.unit`, `unknown unit "${String(o.unit)}"`);
    if (o.driver !== undefined && !driverNames.has(r.str(o.driver, `${w}.driver`))) r.fail(`${w}.driver`, `unknown driver "${String(o.driver)}"`);
    return id;
  };
  const pci: PciDevSpec[] = r.arr(t.pci ?? [], 'topology.pci').map((d, i) => {
    const w = `topology.pci[${i}]`;
    const o = r.obj(d, w);
    r.keys(o, w, PCI_KEYS);
    const id = device(o, w);
    if (o.parent !== undefined && !ids.has(r.str(o.parent, `${w}.parent`))) r.fail(`${w}.parent`, `unknown parent "${String(o.parent)}" (a parent must be declared before its children)`);
    const { id: _id, ...rest } = o;
    return { ...(rest as unknown as Omit<PciDevSpec, 'bdf'>), bdf: id };
  });
  const platform: PlatformDevSpec[] = r.arr(t.devices ?? [], 'topology.devices').map((d, i) => {
    const w = `topology.devices[${i}]`;
    const o = r.obj(d, w);
    r.keys(o, w, PLATFORM_KEYS);
    const id = device(o, w);
    const { id: _id, ...rest } = o;
    return { ...(rest as unknown as Omit<PlatformDevSpec, 'name'>), name: id };
  });
  const mms = t.mms === undefined ? undefined : r.arr(t.mms, 'topology.mms').map((m, i) => r.str(m, `topology.mms[${i}]`));
  return {
    units, pci, platform, drivers,
    ...(mms !== undefined ? { mms } : {}),
    ...(t.passthrough !== undefined ? { passthrough: r.bool(t.passthrough, 'topology.passthrough') } : {}),
  };
}

function readVariants(r: Reader, v: unknown, patches: readonly DocumentPatch[]): Record<string, readonly string[]> {
  const o = r.obj(v ?? {}, 'variants');
  const out: Record<string, readonly string[]> = {};
  for (const [axis, values] of Object.entries(o)) {
    const w = `variants.${axis}`;
    if (axis !== UNIT_AXIS && !isVariantAxis(axis)) {
      // an axis of the module's own patches: its values are the module's to name
      if (!patches.some((p) => axis in p.when)) {
        r.fail(w, `unknown variant axis "${axis}" (one of: ${[...Object.keys(VARIANT_AXES), UNIT_AXIS].join(', ')}, or an axis a patch's "when" names)`);
      }
      out[axis] = r.arr(values, w).map((x, i) => r.str(x, `${w}[${i}]`));
      if (out[axis]!.length === 0) r.fail(w, 'an axis needs at least one value');
      continue;
    }
    const known: readonly string[] = axis === UNIT_AXIS ? PROFILE_IDS : VARIANT_AXES[axis as keyof typeof VARIANT_AXES];
    out[axis] = r.arr(values, w).map((x, i) => {
      const s = r.str(x, `${w}[${i}]`);
      if (!known.includes(s)) r.fail(`${w}[${i}]`, `unknown value "${s}" for ${axis} (one of: ${known.join(', ')})`);
      return s;
    });
    if (out[axis]!.length === 0) r.fail(w, 'an axis needs at least one value');
  }
  return out;
}

function readTasks(r: Reader, v: unknown, t: Topology): { readonly id: string; readonly calls: readonly Call[] }[] {
  const names = new Set<string>();
  return r.arr(v, 'tasks').map((task, i) => {
    const w = `tasks[${i}]`;
    const o = r.obj(task, w);
    r.keys(o, w, ['name', 'ops']);
    const name = r.str(o.name, `${w}.name`);
    if (names.has(name) || name === 'boot') r.fail(`${w}.name`, `task name "${name}" is ${name === 'boot' ? 'reserved' : 'used twice'}`);
    names.add(name);
    const calls = r.arr(o.ops, `${w}.ops`).map((op, j) => readTaskOp(r, t, r.obj(op, `${w}.ops[${j}]`), `${w}.ops[${j}]`));
    return { id: name, calls };
  });
}

/**
 * Userspace processes (protocol/vfio.ts ProcessSpec, docs/vfio.md): a name,
 * its ops in program order, optionally `onRequest` and `stay`. Each op needs
 * its `do`; the process actor reports an op it cannot make by errno.
 */
function readExpect(r: Reader, v: unknown, variants: Readonly<Record<string, readonly string[]>>): Expectation[] {
  return r.arr(v ?? [], 'expect').map((e, i) => {
    const w = `expect[${i}]`;
    const o = r.obj(e, w);
    r.keys(o, w, ['when', 'findings']);
    const when = r.obj(o.when ?? {}, `${w}.when`);
    for (const [axis, value] of Object.entries(when)) {
      const values = variants[axis];
      if (values === undefined) r.fail(`${w}.when.${axis}`, `"${axis}" is not an axis of this scenario`);
      if (!values.includes(r.str(value, `${w}.when.${axis}`))) r.fail(`${w}.when.${axis}`, `"${String(value)}" is not a value of ${axis} here (${values.join(', ')})`);
    }
    const findings = r.arr(o.findings, `${w}.findings`).map((f, j) => {
      const k = r.str(f, `${w}.findings[${j}]`);
      if (!isFindingKind(k)) r.fail(`${w}.findings[${j}]`, `unknown finding kind "${k}"`);
      return k as FindingKind;
    });
    return { when: when as Readonly<Record<string, string>>, findings };
  });
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

/** What the document's `checkers` key may change about kernelCheckers(). */
interface CheckerOptions {
  readonly skipInvariants: readonly string[];
  readonly pasidContract: boolean;
}

function readCheckers(r: Reader, v: unknown): CheckerOptions {
  const o = r.obj(v ?? {}, 'checkers');
  r.keys(o, 'checkers', ['skip_invariants', 'pasid_contract']);
  const skipInvariants = r.arr(o.skip_invariants ?? [], 'checkers.skip_invariants').map((x, i) => {
    const id = r.str(x, `checkers.skip_invariants[${i}]`);
    if (!isInvariantId(id)) r.fail(`checkers.skip_invariants[${i}]`, `unknown invariant "${id}" (one of: ${INVARIANT_IDS.join(', ')})`);
    return id;
  });
  const pasidContract = o.pasid_contract === undefined ? false : r.bool(o.pasid_contract, 'checkers.pasid_contract');
  return { skipInvariants, pasidContract };
}

/**
 * The `unit` axis: hardware profiles ("vtd@7.0", "smmu-v3@5.10") for the
 * topology's only unit, whose kind and version each assignment replaces.
 */
function checkUnitAxis(r: Reader, t: Topology, values: readonly string[] | undefined): void {
  if (values === undefined) return;
  if (t.units.length !== 1) r.fail(`variants.${UNIT_AXIS}`, `the ${UNIT_AXIS} axis picks the profile of the topology's only unit; this topology has ${t.units.length}`);
  if (t.units[0]!.module !== undefined) r.fail(`variants.${UNIT_AXIS}`, `the ${UNIT_AXIS} axis cannot replace a plug-in unit (topology.units[0].module)`);
}

function withUnit(t: Topology, profile: string | undefined): Topology {
  const p = profile === undefined ? null : findProfile(profile);
  if (p === null) return t;
  const { version: _v, ...unit } = t.units[0]!;
  return { ...t, units: [{ ...unit, kind: p.kind, ...(p.version !== null ? { version: p.version } : {}) }] };
}

/** Validates a scenario document and compiles it to a Scenario. `file` names it in errors. */
export function scenarioFromDocument(doc: unknown, file: string, patches: readonly DocumentPatch[] = []): Scenario {
  const r = new Reader(file);
  const o = r.obj(doc, '(document)');
  r.keys(o, '', ['name', 'title', 'topology', 'variants', 'tasks', 'processes', 'checkers', 'expect']);
  const name = r.str(o.name, 'name');
  const title = o.title === undefined ? name : r.str(o.title, 'title');
  const topology = readTopology(r, o.topology);
  const variants = readVariants(r, o.variants, patches);
  checkUnitAxis(r, topology, variants[UNIT_AXIS]);
  const tasks = readTasks(r, o.tasks, topology);
  const processes = readProcesses(r, o.processes, topology, new Set(tasks.map((x) => x.id)));
  const opts = readCheckers(r, o.checkers);
  const expect = readExpect(r, o.expect, variants);
  // The unit axis picks the hardware profile, model axes go to the kernel model, a patch's own axes only select patches.
  const base = (v: Readonly<Record<string, string>>): Program => {
    const { [UNIT_AXIS]: unit, ...rest } = v;
    const model = Object.fromEntries(Object.entries(rest).filter(([axis]) => isVariantAxis(axis)));
    return kernelProgram({ name, topology: withUnit(topology, unit), variants: model, tasks, ...(processes.length > 0 ? { processes } : {}) });
  };
  const actors = new Set(base({}).actors.map((a) => a.id as string));
  patches.forEach((p, i) => {
    if (!actors.has(p.actor)) r.fail(`patches[${i}].actor`, `no actor "${p.actor}" in this scenario (actors: ${[...actors].join(', ')})`);
    const unit = p.actor.startsWith('unit:') ? topology.units.find((u) => `unit:${u.name}` === p.actor) : undefined;
    for (const f of p.functions) {
      if (f.unit !== null && unit !== undefined && unit.kind !== f.unit) r.fail(`patches[${i}].functions.${f.name}`, `${f.name}() is ${f.unit}'s; ${p.actor} is a ${unit.kind} unit`);
    }
    for (const [axis, value] of Object.entries(p.when)) {
      if (!(variants[axis] ?? []).includes(value)) r.fail(`patches[${i}].when.${axis}`, `"${value}" is not a value of the document's variants.${axis}`);
    }
  });
  return {
    name, title, variants, expect, document: doc,
    program: (v) => patchedProgram(base, patches, v),
    checkers: () => {
      const base = kernelCheckers(opts.skipInvariants.length > 0 ? { invariants: { skip: opts.skipInvariants } } : {});
      return opts.pasidContract ? [...base, new PasidContractChecker()] : base;
    },
  };
}
