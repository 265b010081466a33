import { createHash } from 'node:crypto';
import { scenarioFromDocument } from '../scenarios/format/document.ts';
import type { Scenario } from '../scenarios/scenario.ts';
import type {
  DocumentDriver, DocumentOp, DocumentPci, DocumentPlatform, DocumentProcess, DocumentTask, DocumentTopology, DocumentUnit, ScenarioDocument,
} from '../scenarios/format/schema.ts';

/**
 * A generated workload is a scenario document (docs/scenarios.md), so every
 * reproducer the fuzzer writes is a file any user can `run`, `show` or edit.
 * Its types are the document's, inferred from the one schema
 * (scenarios/format/schema.ts), read-only, with the lists the generator
 * always writes made required; scenarios/format/document.ts stays the one
 * validator.
 */

/** Read-only all the way down. */
type RO<T> = T extends readonly (infer U)[] ? readonly RO<U>[] : T extends object ? { readonly [K in keyof T]: RO<T[K]> } : T;

export type DocUnit = RO<DocumentUnit>;
/** A PCI device as a document writes it: the topology's PciDevSpec with `id` for its BDF. */
export type DocPci = RO<DocumentPci>;
export type DocPlatform = RO<DocumentPlatform>;
export type DocDriver = RO<DocumentDriver>;
/** The topology, with every list written (a generated machine always has them). */
export type DocTopology = Required<Omit<RO<DocumentTopology>, 'passthrough' | 'modules'>> & Pick<RO<DocumentTopology>, 'passthrough' | 'modules'>;
/** One operation of a task: `op` names it (scenarios/format/ops.ts), the other fields are its arguments. */
export type DocOp = DocumentOp;
export type DocTask = Omit<RO<DocumentTask>, 'ops'> & { readonly ops: readonly DocOp[] };
/** A userspace process (scenarios/format/process.ts): ops run in order; `op` names a process op or a sysfs task op. */
export type DocProcess = Omit<RO<DocumentProcess>, 'ops' | 'onRequest' | 'stay'> & { readonly ops: readonly DocOp[] };

export type FuzzDocument = Omit<RO<ScenarioDocument>, 'title' | 'topology' | 'variants' | 'tasks' | 'processes' | 'checkers' | 'expect' | '$schema'> & {
  readonly title: string;
  readonly topology: DocTopology;
  /** One value per axis: a generated workload runs exactly one variant assignment. */
  readonly variants: Readonly<Record<string, readonly [string]>>;
  readonly tasks: readonly DocTask[];
  readonly processes?: readonly DocProcess[];
};

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
