import { z } from 'zod';
import type { DriverAction } from '../../protocol/driver-actions.ts';
import { FINDING_KINDS } from '../../protocol/findings.ts';
import type { ProcIoctl, ProcOp } from '../../protocol/vfio.ts';
import { INVARIANT_IDS } from '../../checkers/invariants/catalog.ts';
import type { GroupRule, WriteRule } from '../../checkers/invariants/invariants-checker.ts';
import { LOCK_CLASSES } from '../../protocol/lock-classes.ts';
import type { LockClassName } from '../../protocol/lock-classes.ts';
import { OPS } from './ops.ts';
import type { FieldType } from './ops.ts';
import { IOCTLS, PROCESS_OPS } from './process.ts';
import type { ProcFieldType } from './process.ts';

/**
 * The scenario document, described once (docs/scenarios.md "Schema"): zod
 * checks every field's type, the TypeScript types of the document are
 * inferred from it (ScenarioDocument; fuzz/document.ts builds them), the JSON
 * Schema of `iommu-lab schema scenario` is generated from it, and the checks
 * that relate fields to each other (device ids, parents, drivers, variant
 * values, units, slots, fds) are its refinements (document.ts). Every object
 * is strict: a misspelt key is an error, never ignored.
 */

/** Documented size limits, checked at load (docs/scenarios.md "Limits"). */
export const LIMITS = {
  /** PCI plus platform devices (stress generates at most 64 units × 400). */
  devices: 32_768,
  units: 64,
  drivers: 1024,
  tasks: 8192,
  opsPerTask: 10_000,
  processes: 256,
  actions: 1000,
  /** Characters of a name (device, driver, task, result names): they become file and actor names. */
  name: 200,
  title: 2000,
  values: 64,
  expect: 4096,
} as const;

/** Names every JavaScript object has (`__proto__`, `constructor`, `toString`, …): never a name here. */
export const PROTO_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** A strict object whose unknown-key message lists the keys it takes. */
function obj<S extends z.ZodRawShape>(shape: S) {
  const keys = Object.keys(shape).join(', ');
  return z.strictObject(shape, { error: (iss) => (iss.code === 'unrecognized_keys' ? `expected one of: ${keys}` : undefined) });
}

/** One of a fixed set of strings; `what` names the set in the message ("unknown unit kind "intel" (one of: …)"). */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, what = 'value') {
  return z.enum(values, { error: (iss) => (iss.code === 'invalid_value' ? `unknown ${what}` : undefined) });
}

/** Control and format characters (NUL, escapes, bidirectional overrides): never in a name or a title (they become file names, actor ids, terminal output). */
const PRINTABLE = /^[^\p{Cc}\p{Cf}]*$/u;
const printable = { error: 'expected printable characters (no control or bidirectional-format characters)' };

/** A non-empty string of bounded length. */
export const Str = z.string().min(1).max(LIMITS.name).regex(PRINTABLE, printable);
/** A name that declares something (a device, a driver, a task): not a property every object has. */
export const Name = Str.refine((s) => !PROTO_NAMES.has(s), { error: (iss) => `${JSON.stringify(iss.input)} cannot be a name: every JavaScript object has a property of that name` });
/** IOVAs, PASIDs, page numbers: non-negative integers. */
export const Count = z.int().min(0);
const Pasid = z.int().min(0).max((1 << 20) - 1);
const Bool = z.boolean();

// ---- driver actions (protocol/driver-actions.ts) ------------------------------------

const act = <D extends string, S extends z.ZodRawShape>(name: D, shape: S) =>
  obj({ do: z.literal(name), dev: Str.exactOptional(), ignore: Bool.exactOptional(), ...shape });

const ACTION_NAMES = [
  'iommu_paging_domain_alloc', 'iommu_domain_alloc', 'iommu_domain_free', 'iommu_attach_device', 'iommu_detach_device',
  'iommu_attach_device_shared', 'iommu_detach_device_shared', 'iommu_group_get', 'iommu_group_put', 'iommu_attach_group',
  'iommu_detach_group', 'iommu_group_claim_dma_owner', 'iommu_group_release_dma_owner', 'iommu_device_claim_dma_owner',
  'iommu_device_release_dma_owner', 'iommu_attach_device_pasid', 'iommu_replace_device_pasid', 'iommu_detach_device_pasid',
  'iommu_sva_bind_device', 'iommu_sva_unbind_device', 'iommu_get_domain_for_dev', 'iommu_map', 'iommu_unmap', 'dma_map',
  'dma_unmap', 'dma', 'pci_reset_function', 'pci_try_reset_function', 'pci_reset_function_locked', 'vfio_register_group_dev',
  'vfio_unregister_group_dev', 'yield',
] as const satisfies readonly DriverAction['do'][];

/** One driver action; its type must stay DriverAction (checked below). */
export const DriverActionSchema = z.discriminatedUnion('do', [
  act('iommu_paging_domain_alloc', { as: Str, flags: z.array(z.literal('pasid')).max(1).exactOptional() }),
  act('iommu_domain_alloc', { bus: z.enum(['pci', 'platform']), as: Str }),
  act('iommu_domain_free', { domain: Str }),
  act('iommu_attach_device', { domain: Str }),
  act('iommu_detach_device', { domain: Str }),
  act('iommu_attach_device_shared', { domain: Str }),
  act('iommu_detach_device_shared', { domain: Str }),
  act('iommu_group_get', { as: Str }),
  act('iommu_group_put', { group: Str }),
  act('iommu_attach_group', { domain: Str, group: Str }),
  act('iommu_detach_group', { domain: Str, group: Str }),
  act('iommu_group_claim_dma_owner', { group: Str, owner: Str }),
  act('iommu_group_release_dma_owner', { group: Str }),
  act('iommu_device_claim_dma_owner', { owner: Str }),
  act('iommu_device_release_dma_owner', {}),
  act('iommu_attach_device_pasid', { domain: Str, pasid: Pasid, handle: Str.exactOptional() }),
  act('iommu_replace_device_pasid', { domain: Str, pasid: Pasid, handle: Str.exactOptional() }),
  act('iommu_detach_device_pasid', { domain: Str, pasid: Pasid }),
  act('iommu_sva_bind_device', { mm: Str, as: Str }),
  act('iommu_sva_unbind_device', { handle: Str }),
  act('iommu_get_domain_for_dev', { as: Str.exactOptional() }),
  act('iommu_map', { domain: Str, iova: Count, page: Str.exactOptional() }),
  act('iommu_unmap', { domain: Str, iova: Count }),
  act('dma_map', { as: Str, page: Str.exactOptional() }),
  act('dma_unmap', { iova: Str }),
  act('dma', { iova: z.union([Count, Str]), pasid: Pasid.exactOptional(), write: Bool.exactOptional() }),
  act('pci_reset_function', {}),
  act('pci_try_reset_function', {}),
  act('pci_reset_function_locked', {}),
  act('vfio_register_group_dev', {}),
  act('vfio_unregister_group_dev', {}),
  act('yield', {}),
], { error: (iss) => (iss.code === 'invalid_union' ? `unknown action %s (one of: ${ACTION_NAMES.join(', ')})` : undefined) });
export const DriverActions = z.array(DriverActionSchema).max(LIMITS.actions);

// The schema and the type the driver-core actor runs are the same set, both ways: an action added to one and not the other does not compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const actionsAgree: Same<z.output<typeof DriverActionSchema>['do'], DriverAction['do']> = true;
const actionsFit: z.output<typeof DriverActionSchema> extends DriverAction ? true : false = true;
void actionsAgree;
void actionsFit;

// ---- task ops (ops.ts) ---------------------------------------------------------------

function fieldSchema(t: FieldType | ProcFieldType): z.ZodType {
  switch (t) {
    case 'number': return Count;
    case 'bool': return Bool;
    case 'actions': return DriverActions;
    case 'fds': return z.array(Str).max(LIMITS.devices);
    case 'iommu-type': return oneOf(['VFIO_TYPE1_IOMMU', 'VFIO_TYPE1v2_IOMMU', 'VFIO_SPAPR_TCE_IOMMU']);
    case 'irq-index': return z.literal('REQ');
    case 'kvm-device-type': return oneOf(['KVM_DEV_TYPE_VFIO', 'KVM_DEV_TYPE_ARM_VGIC_V3'], 'KVM device type');
    case 'kvm-vfio-attr': return oneOf(['KVM_DEV_VFIO_FILE_ADD', 'KVM_DEV_VFIO_FILE_DEL'], 'KVM_DEV_VFIO_FILE attribute');
    default: return Str; // dev, driver, slot, fd, string: names, related to the topology by the refinements
  }
}

function shapeOf(fields: Readonly<Record<string, FieldType | ProcFieldType>>): z.ZodRawShape {
  const shape: Record<string, z.ZodType> = {};
  for (const [f, t] of Object.entries(fields)) {
    const key = f.replace(/\?$/, '');
    shape[key] = f.endsWith('?') ? fieldSchema(t).exactOptional() : fieldSchema(t);
  }
  return shape;
}

const taskOpOptions = OPS.map((o) => obj({ op: z.literal(o.name), ...shapeOf(o.fields) }));
/** A task op: `{ "op": "<name>", ...its fields }` (`iommu-lab ops`). */
export const TaskOp = z.discriminatedUnion('op', taskOpOptions as [typeof taskOpOptions[number], ...typeof taskOpOptions], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown op %s (see \`iommu-lab ops\`; known: ${OPS.map((x) => x.name).join(', ')})` : undefined),
});

// ---- processes (process.ts) ----------------------------------------------------------

const IOCTL_CMDS = Object.keys(IOCTLS) as ProcIoctl['cmd'][];
const ioctlOptions = IOCTL_CMDS.map((c) => obj({ op: z.literal('ioctl'), fd: Str, cmd: z.literal(c), as: Str.exactOptional(), ...shapeOf(IOCTLS[c].fields) }));
const Ioctl = z.discriminatedUnion('cmd', ioctlOptions as [typeof ioctlOptions[number], ...typeof ioctlOptions], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown ioctl %s (one of: ${IOCTL_CMDS.join(', ')})` : undefined),
});
const procOpOptions = PROCESS_OPS.filter((p) => p.name !== 'ioctl').map((p) => obj({ op: z.literal(p.name), ...shapeOf(p.fields) }));
const PROC_OP_NAMES = PROCESS_OPS.map((p) => p.name);
/** A process op in the document's form: a process op, an ioctl, or a task op made as a sysfs write. */
const DocProcOp = z.discriminatedUnion('op', [...procOpOptions, Ioctl, ...taskOpOptions] as [typeof procOpOptions[number], ...typeof procOpOptions], {
  error: (iss) => (iss.code === 'invalid_union'
    ? `unknown process op %s (process ops: ${PROC_OP_NAMES.join(', ')}; or a task op, made as a sysfs write — see \`iommu-lab ops\`)`
    : undefined),
});

/** The process actor's own op form (protocol/vfio.ts ProcOp), as stress writes its rounds' documents. */
const rawIoctlOptions = IOCTL_CMDS.map((c) => obj({ cmd: z.literal(c), ...shapeOf(IOCTLS[c].fields) }));
const RawIoctl = z.discriminatedUnion('cmd', rawIoctlOptions as [typeof rawIoctlOptions[number], ...typeof rawIoctlOptions]);
const Call = obj({ to: Str, op: Str, body: z.record(Str, z.unknown()) });
const RawProcOp = z.discriminatedUnion('do', [
  obj({ do: z.literal('open'), path: z.discriminatedUnion('kind', [obj({ kind: z.literal('group'), dev: Str }), obj({ kind: z.literal('cdev'), dev: Str }), obj({ kind: z.literal('container') }), obj({ kind: z.literal('iommufd') }), obj({ kind: z.literal('kvm') })]), as: Str }),
  obj({ do: z.literal('close'), fd: Str }),
  obj({ do: z.literal('ioctl'), fd: Str, ioctl: RawIoctl, as: Str.exactOptional() }),
  obj({ do: z.literal('dma'), fd: Str, iova: Count, pasid: Pasid.exactOptional(), write: Bool.exactOptional() }),
  obj({ do: z.literal('sysfs'), call: Call }),
  obj({ do: z.literal('post'), event: Str }),
  obj({ do: z.literal('wait'), event: Str }),
  obj({ do: z.literal('exit') }),
  obj({ do: z.literal('close_all') }),
  obj({ do: z.literal('yield') }),
]);
const rawFits: z.output<typeof RawProcOp>['do'] extends ProcOp['do'] ? true : false = true;
void rawFits;

export const ProcessOp = z.union([DocProcOp, RawProcOp]);

// ---- the document --------------------------------------------------------------------

const Unit = obj({
  name: Name, kind: oneOf(['vtd', 'amd-vi', 'smmu-v3', 'mock'], 'unit kind'), version: Str.exactOptional(),
  max_pasids: z.int().min(0).max(1 << 20).exactOptional(), attach_deferred: Bool.exactOptional(), sva: Bool.exactOptional(),
  module: z.string().min(1).max(4096).exactOptional(), export: Str.exactOptional(),
  // false: registered at run time by the iommu.register op (iommu_device_register → bus_iommu_probe)
  present_at_boot: Bool.exactOptional(),
});

const Pci = obj({
  id: Name, parent: Str.exactOptional(), bridge: Bool.exactOptional(), acs: Bool.exactOptional(), alias: Str.exactOptional(),
  unit: Str.exactOptional(), ats: Bool.exactOptional(), pasid_bits: z.int().min(0).max(20).exactOptional(),
  require_direct: Bool.exactOptional(), attach_deferred: Bool.exactOptional(),
  reset_methods: z.array(oneOf(['flr', 'pm', 'bus', 'cxl_bus'], 'reset method')).max(4).exactOptional(),
  slot: Str.exactOptional(), driver: Str.exactOptional(), hotplug: Bool.exactOptional(),
  // an s390 zPCI function: vfio-pci's open/close register the KVM under kvm->lock (bug B13's driver side)
  zpci: Bool.exactOptional(),
  // SR-IOV (issue 16 item 5): the PF's capability; its VFs are derived devices (protocol/topology.ts withVirtfns)
  sriov: obj({
    total_vfs: z.int().min(1).max(256), offset: z.int().min(1).max(0xffff).exactOptional(), stride: z.int().min(1).max(0xffff).exactOptional(),
    vf_driver: Str.exactOptional(),
  }).exactOptional(),
});

const Platform = obj({
  id: Name, unit: Str.exactOptional(), group: Str.exactOptional(), driver: Str.exactOptional(),
  pasid_bits: z.int().min(0).max(20).exactOptional(), require_direct: Bool.exactOptional(),
});

const Driver = obj({
  name: Name, bus: oneOf(['pci', 'platform'], 'bus'), driver_managed_dma: Bool.exactOptional(), defer: z.int().min(0).max(1000).exactOptional(),
  async: Bool.exactOptional(), probe_type: oneOf(['default', 'async', 'sync'], 'probe_type').exactOptional(), probe: DriverActions.exactOptional(), remove: DriverActions.exactOptional(),
  // PCI: err_handler->reset_prepare / reset_done (drivers/pci/pci.c pci_dev_save_and_disable / pci_dev_restore)
  reset_prepare: DriverActions.exactOptional(), reset_done: DriverActions.exactOptional(),
  // PCI: a sriov_configure callback (pci_sriov_configure_simple; actors/pci/iov.ts)
  sriov_configure: Bool.exactOptional(),
  // the loadable module that provides it (topology.modules); absent: built in
  module: Str.exactOptional(),
});

/** A loadable driver module: loaded at boot unless `boot` is false (then a module.load op loads it). */
const Module = obj({ name: Name, boot: Bool.exactOptional() });

const Topology = obj({
  units: z.array(Unit).max(LIMITS.units).exactOptional(),
  pci: z.array(Pci).max(LIMITS.devices).exactOptional(),
  devices: z.array(Platform).max(LIMITS.devices).exactOptional(),
  drivers: z.array(Driver).max(LIMITS.drivers).exactOptional(),
  modules: z.array(Module).max(LIMITS.drivers).exactOptional(),
  mms: z.array(Name).max(LIMITS.devices).exactOptional(),
  passthrough: Bool.exactOptional(),
});

/**
 * An object of names (variants, an expectation's `when`). zod's record
 * skips an own `__proto__` key (JSON.parse makes one) without a word; here
 * it is an unknown axis like `constructor`.
 */
export function names<V extends z.ZodType>(value: V) {
  return z.preprocess((input, ctx) => {
    if (typeof input === 'object' && input !== null && Object.hasOwn(input, '__proto__')) {
      ctx.issues.push({ code: 'custom', message: 'unknown variant axis "__proto__"', path: ['__proto__'], input });
    }
    return input;
  }, z.record(AxisKey, value));
}

/** An object key that is an axis name: no prototype names (JSON.parse makes `__proto__` an own key). */
const AxisKey = z.string().min(1).max(LIMITS.name).refine((s) => !PROTO_NAMES.has(s), { error: (iss) => `unknown variant axis ${JSON.stringify(iss.input)}` });

/**
 * A task's op may run only under some variant assignments (`when`, like an
 * expectation's): a scenario axis of the document's own can then choose
 * between workloads (seed 001's release with or without the PASID detach).
 */
const whenOptions = taskOpOptions.map((o) => o.extend({ when: names(Str).exactOptional() }));
const TaskOpWhen = z.discriminatedUnion('op', whenOptions as [typeof whenOptions[number], ...typeof whenOptions], {
  error: (iss) => (iss.code === 'invalid_union' ? `unknown op %s (see \`iommu-lab ops\`; known: ${OPS.map((x) => x.name).join(', ')})` : undefined),
});
const Task = obj({ name: Name, ops: z.array(TaskOpWhen).max(LIMITS.opsPerTask) });
const Process = obj({
  name: Name, ops: z.array(ProcessOp).max(LIMITS.opsPerTask),
  onRequest: oneOf(['close', 'ignore']).exactOptional(), stay: Bool.exactOptional(),
});
const Kinds = z.array(oneOf(FINDING_KINDS, 'finding kind')).max(64);
/** `findings`: exactly these kinds; `includes`: at least these; `new`: exactly these among what the row adds against its baseline (cli/verdict.ts). */
const Expect = obj({
  when: names(Str).exactOptional(),
  findings: Kinds.exactOptional(),
  includes: Kinds.exactOptional(),
  new: Kinds.exactOptional(),
});
/** The scenario's own known findings (fuzz/known.ts KnownFinding without `when`). */
const Known = obj({
  id: Str,
  kind: oneOf(FINDING_KINDS, 'finding kind'),
  signature: z.string().min(1).max(4096),
  contains: z.array(z.string().min(1).max(4096)).max(16).exactOptional(),
  reason: z.string().min(1).max(4096),
  reference: z.string().min(1).max(4096),
  source: oneOf(['upstream', 'model'] as const, 'source ("upstream": the kernel does this; "model": the model departs from the kernel)'),
});
const Checkers = obj({
  skip_invariants: z.array(oneOf(INVARIANT_IDS, 'invariant')).exactOptional(),
  pasid_contract: Bool.exactOptional(),
});

// ---- kernel rules as data (rules.ts) ------------------------------------------------

const LOCK_CLASS_NAMES = Object.keys(LOCK_CLASSES) as [LockClassName, ...LockClassName[]];
const LockClass = oneOf(LOCK_CLASS_NAMES, 'lock class');
/** An edge of lockdep's preloaded kernel order (docs/kernel-facts.md §1.2): outer is taken before inner. */
const OrderEdge = obj({ outer: LockClass, inner: LockClass });
/** An edge a rule adds: `via` is the function that shows it ("file.c: function"), printed as the splat's declared order. */
const OrderDependency = obj({ outer: LockClass, inner: LockClass, outer_read: Bool.exactOptional(), via: Str });
const Lockdep = obj({
  preload: Bool.exactOptional(),
  drop: z.array(OrderEdge).max(LIMITS.expect).exactOptional(),
  add: z.array(OrderDependency).max(LIMITS.expect).exactOptional(),
  replace: z.array(obj({ edge: OrderEdge, by: OrderDependency })).max(LIMITS.expect).exactOptional(),
});
/**
 * A replaced invariant's judgement: a function of the kind the invariant
 * has (GroupRule or WriteRule), so only a TS/JS scenario module can give
 * one; JSON cannot (the JSON Schema says "any" here).
 */
const Judge = z.custom<GroupRule | WriteRule>((v) => typeof v === 'function', {
  error: 'expected "off" or a function (shadow, change, old) => Violation | null, or ({ s, group, step }) => Violation | null, as the invariant judges (a TS/JS scenario module)',
}).meta({ description: 'a function (only in a TS/JS scenario module)' });
/** An invariant turned off, or replaced by a rule of the scenario's own (the run header prints `name: rule`). */
const Replacement = z.strictObject({ name: Name, rule: z.string().min(1).max(4096), judge: Judge }, {
  error: (iss) => (iss.code === 'unrecognized_keys' ? 'expected one of: name, rule, judge' : iss.code === 'invalid_type' ? 'expected "off" or { name, rule, judge }' : undefined),
});
const InvariantChange = z.union([Replacement, z.literal('off')]);
const Rule = obj({
  when: names(Str).exactOptional(),
  reason: z.string().min(1).max(4096).regex(/\S/, { error: 'say why the rule changes (the run header prints it)' }),
  lockdep: Lockdep.exactOptional(),
  invariants: obj(Object.fromEntries(INVARIANT_IDS.map((id) => [id, InvariantChange.exactOptional()])) as Record<(typeof INVARIANT_IDS)[number], z.ZodExactOptional<typeof InvariantChange>>).exactOptional(),
});
export type DocumentRule = z.output<typeof Rule>;

// ---- raw programs (a built-in that is not the kernel model: runtime-abba) -------------

/**
 * A program given as the runtime runs it (runtime/program.ts): actors by
 * module and export, lock-manager shards, root tasks. For scenarios that are
 * not the kernel model (the runtime's own ABBA test); a kernel scenario is
 * written with topology, tasks and processes instead.
 */
const RawProgram = obj({
  name: Str,
  actors: z.array(obj({ id: Str, module: z.string().min(1).max(4096), export: Str.exactOptional(), config: z.unknown().exactOptional() })).min(1).max(LIMITS.units + 16),
  lockManagers: z.array(Str).min(1).max(LIMITS.units),
  tasks: z.array(obj({ id: Name, to: Str, op: Str, body: z.unknown().exactOptional() })).max(LIMITS.tasks),
  setup: z.array(Str).max(LIMITS.tasks).exactOptional(),
});
export type DocumentRawProgram = z.output<typeof RawProgram>;

/** The scenario document's structure (CLI.md "Scenario documents", docs/scenarios.md). */
export const ScenarioDocumentSchema = obj({
  $schema: z.string().max(4096).exactOptional(),
  name: Name,
  title: z.string().min(1).max(LIMITS.title).regex(PRINTABLE, printable).exactOptional(),
  topology: Topology,
  variants: names(z.array(Str).min(1).max(LIMITS.values)).exactOptional(),
  tasks: z.array(Task).max(LIMITS.tasks),
  processes: z.array(Process).max(LIMITS.processes).exactOptional(),
  checkers: Checkers.exactOptional(),
  // model variant values every row runs with, not axes of the table (seed 003a pins dev-iommu-bits)
  fixed: names(Str).exactOptional(),
  // instead of topology/tasks/processes (which stay empty): the program per assignment, for a scenario that is not the kernel model
  programs: z.array(obj({ when: names(Str).exactOptional(), program: RawProgram })).min(1).max(LIMITS.values).exactOptional(),
  // kernel rules as data (rules.ts): the fields here; that an edge is in the kernel order and `when` names the scenario's axes, in rules.ts
  rules: z.array(Rule).max(LIMITS.expect).exactOptional(),
  expect: z.array(Expect).max(LIMITS.expect).exactOptional(),
  known: z.array(Known).max(LIMITS.expect).exactOptional(),
});

/** A scenario document as it is written (JSON, or a module's default export). */
export type ScenarioDocument = z.output<typeof ScenarioDocumentSchema>;
export type DocumentTopology = z.output<typeof Topology>;
export type DocumentUnit = z.output<typeof Unit>;
export type DocumentPci = z.output<typeof Pci>;
export type DocumentPlatform = z.output<typeof Platform>;
export type DocumentDriver = z.output<typeof Driver>;
export type DocumentTask = z.output<typeof Task>;
export type DocumentProcess = z.output<typeof Process>;
/** One op of a task or process: `op` names it, the other fields are its arguments. */
export type DocumentOp = Readonly<Record<string, unknown>> & { readonly op: string };
