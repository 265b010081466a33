import { Cell } from '../cell.ts';
import type { CellSnapshot } from '../cell.ts';
import type { ActorDef } from '../actor.ts';
import { loadActorDef } from '../modules.ts';
import type { Program } from '../program.ts';
import type { Host } from './host.ts';
import type { ActorId } from '../../protocol/ids.ts';
import type { StepCommand, StepResult } from '../../protocol/step.ts';

/**
 * All actors in this thread. A step runs entirely in microtasks, so if a
 * macrotask gets to run while a step is still open, the stepped task is
 * waiting on something that is not a kernel primitive (a timer, I/O, a
 * foreign promise) and would never reach its next scheduling point: the
 * host ends that step with an `actor-crash` instead of hanging.
 */
export class InlineHost implements Host {
  readonly kind = 'inline';
  private readonly program: Program;
  private readonly defs: ReadonlyMap<ActorId, ActorDef>;
  private cells = new Map<ActorId, Cell>();
  private open: Cell | null = null;
  private saved: ReadonlyMap<ActorId, CellSnapshot> | null = null;
  private watch: NodeJS.Immediate | null = null;

  private constructor(program: Program, defs: ReadonlyMap<ActorId, ActorDef>) {
    this.program = program;
    this.defs = defs;
    this.build();
  }

  /** `only`: just these actors (the others live in another host: runtime/hosts/guarded.ts). */
  static async create(program: Program, only?: ReadonlySet<ActorId>): Promise<InlineHost> {
    const defs = new Map<ActorId, ActorDef>();
    for (const a of program.actors) {
      if (only === undefined || only.has(a.id)) defs.set(a.id, await loadActorDef(a.module, a.export ?? 'default', a.patches));
    }
    return new InlineHost(program, defs);
  }

  private build(): void {
    const actors = this.program.actors.map((a) => a.id);
    this.cells = new Map();
    for (const a of this.program.actors) {
      if (!this.defs.has(a.id)) continue;
      const def = this.defs.get(a.id) as ActorDef;
      this.cells.set(a.id, new Cell(def, { self: a.id, config: a.config, actors, lockManagers: this.program.lockManagers }));
    }
  }

  reset(): Promise<void> {
    this.build();
    return Promise.resolve();
  }

  snapshot(): Promise<void> {
    this.saved = new Map([...this.cells].map(([id, c]) => [id, c.snapshot()]));
    return Promise.resolve();
  }

  restore(): Promise<void> {
    if (this.saved === null) throw new Error('restore() without a snapshot');
    for (const [id, s] of this.saved) (this.cells.get(id) as Cell).restore(s);
    return Promise.resolve();
  }

  /**
   * Every actor's state as it is now, serialized (Cell.serializedSnapshot),
   * each in an ArrayBuffer of its own so that it can be transferred: what a
   * workers host adopts after an inline boot (stress). The host must not
   * step again afterwards (its state was not copied).
   */
  serializedSnapshots(): Map<ActorId, Uint8Array<ArrayBuffer>> {
    return new Map([...this.cells].map(([id, c]) => [id, ownBuffer(c.serializedSnapshot())]));
  }

  cell(actor: ActorId): Cell | undefined {
    return this.cells.get(actor);
  }

  executeThen(actor: ActorId, cmd: StepCommand, done: (r: StepResult) => void): void {
    const cell = this.cells.get(actor);
    if (cell === undefined) throw new Error(`no actor ${actor} in this host`);
    // `open` stays set after the step: the stall check only acts on a cell still stepping.
    this.open = cell;
    if (this.watch === null) this.watch = setImmediate(this.onMacrotask);
    cell.executeThen(cmd, done);
  }

  private readonly onMacrotask = (): void => {
    this.watch = null;
    const cell = this.open;
    if (cell !== null && cell.stepping !== null) {
      cell.abort(cell.stepping, 'actor-crash', '?', `task ${cell.stepping} in ${cell.self} is waiting on something that is not a kernel primitive (a timer, I/O or a foreign promise)`, null, []);
    }
  };

  inspect(actor: ActorId): Promise<unknown> {
    return Promise.resolve(this.cells.get(actor)?.inspect() ?? null);
  }

  close(): Promise<void> {
    if (this.watch !== null) clearImmediate(this.watch);
    this.watch = null;
    return Promise.resolve();
  }
}

/** `b` alone in its ArrayBuffer (a Buffer may be a view of a shared pool, which cannot be transferred). */
function ownBuffer(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);
}
