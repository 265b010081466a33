import { createHash } from 'node:crypto';
import type { DriverAction } from '../protocol/driver-actions.ts';
import type { PciDevSpec, UnitKind } from '../protocol/topology.ts';
import { scenarioFromDocument } from '../scenarios/format/document.ts';
import type { Scenario } from '../scenarios/scenario.ts';

/**
 * A generated workload is a scenario document (docs/scenarios.md), so every
 * reproducer the fuzzer writes is a file any user can `run`, `show` or edit.
 * These types are the document's JSON shape as the generator builds it;
 * scenarios/format/document.ts stays the one validator.
 */

export interface DocUnit {
  readonly name: string;
  readonly kind: UnitKind;
  readonly version?: string;
  readonly max_pasids?: number;
  readonly attach_deferred?: boolean;
}

/** A PCI device as a document writes it: the topology's PciDevSpec with `id` for its BDF. */
export type DocPci = Omit<PciDevSpec, 'bdf'> & { readonly id: string };

export interface DocPlatform {
  readonly id: string;
  readonly unit?: string;
  readonly group?: string;
  readonly driver?: string;
  readonly pasid_bits?: number;
  readonly require_direct?: boolean;
}

export interface DocDriver {
  readonly name: string;
  readonly bus: 'pci' | 'platform';
  readonly driver_managed_dma?: boolean;
  readonly defer?: number;
  readonly async?: boolean;
  readonly probe?: readonly DriverAction[];
  readonly remove?: readonly DriverAction[];
}

export interface DocTopology {
  readonly units: readonly DocUnit[];
  readonly pci: readonly DocPci[];
  readonly devices: readonly DocPlatform[];
  readonly drivers: readonly DocDriver[];
  readonly mms: readonly string[];
  readonly passthrough?: boolean;
}

/** One operation of a task: `op` names it (scenarios/format/ops.ts), the other fields are its arguments. */
export type DocOp = Readonly<Record<string, unknown>> & { readonly op: string };

export interface DocTask {
  readonly name: string;
  readonly ops: readonly DocOp[];
}

/** A userspace process (scenarios/format/process.ts): ops run in order; `op` names a process op or a sysfs task op. */
export interface DocProcess {
  readonly name: string;
  readonly ops: readonly DocOp[];
}

export interface FuzzDocument {
  readonly name: string;
  readonly title: string;
  readonly topology: DocTopology;
  /** One value per axis: a generated workload runs exactly one variant assignment. */
  readonly variants: Readonly<Record<string, readonly [string]>>;
  readonly tasks: readonly DocTask[];
  readonly processes?: readonly DocProcess[];
}

/** The variant assignment a document runs (its one value per axis). */
export function documentVariants(doc: FuzzDocument): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [axis, [value]] of Object.entries(doc.variants)) out[axis] = value;
  return out;
}

/**
 * Whether scenario documents take userspace `processes` in this build (they
 * arrive with the seeds' document work; until then the generator makes no
 * VFIO users). Asked once, of the validator itself.
 */
export const DOCUMENTS_TAKE_PROCESSES: boolean = (() => {
  try {
    scenarioFromDocument({ name: 'probe', topology: { units: [], pci: [], drivers: [] }, tasks: [], processes: [] }, '(probe)');
    return true;
  } catch {
    return false;
  }
})();

/** Compiles (and so validates) a generated document; `file` names it in errors. */
export function compileDocument(doc: FuzzDocument, file = '(generated)'): Scenario {
  return scenarioFromDocument(doc, file);
}

/** The content hash that names a document in the corpus (the name and title are not part of it). */
export function documentHash(doc: FuzzDocument): string {
  const { name: _n, title: _t, ...body } = doc;
  return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
}

/** Every op of the document, with where it is. */
export function* opsOf(doc: FuzzDocument): IterableIterator<{ readonly task: number; readonly index: number; readonly op: DocOp }> {
  for (let t = 0; t < doc.tasks.length; t++) {
    const ops = (doc.tasks[t] as DocTask).ops;
    for (let i = 0; i < ops.length; i++) yield { task: t, index: i, op: ops[i] as DocOp };
  }
}

/** Ops of tasks and processes. */
export function opCount(doc: FuzzDocument): number {
  return [...doc.tasks, ...(doc.processes ?? [])].reduce((n, t) => n + t.ops.length, 0);
}
