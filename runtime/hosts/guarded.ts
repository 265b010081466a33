import { InlineHost } from './inline.ts';
import { WorkersHost } from './workers.ts';
import type { Host } from './host.ts';
import { stepHangMs, userActors } from '../user-code.ts';
import type { Program } from '../program.ts';
import type { ActorId } from '../../protocol/ids.ts';
import type { StepCommand, StepResult } from '../../protocol/step.ts';

/**
 * The inline host for a program that carries a user's patches (issue 17,
 * Build 4): the actors with patches run on worker threads under the step
 * watchdog (runtime/hosts/workers.ts), the others in this thread as the
 * inline host runs them. A synchronous loop in a patch would otherwise stop
 * this thread, and with it every watchdog. The controlled scheduler cannot
 * tell hosts apart (host.ts), so the same decisions give the same trace as
 * all-inline.
 */
export class GuardedHost implements Host {
  readonly kind = 'inline';
  private readonly local: InlineHost;
  private readonly remote: WorkersHost;
  private readonly guarded: ReadonlySet<ActorId>;

  private constructor(local: InlineHost, remote: WorkersHost, guarded: ReadonlySet<ActorId>) {
    this.local = local;
    this.remote = remote;
    this.guarded = guarded;
  }

  static async create(program: Program, hangMs = stepHangMs()): Promise<GuardedHost> {
    const guarded = userActors(program);
    const local = await InlineHost.create(program, new Set(program.actors.map((a) => a.id).filter((id) => !guarded.has(id))));
    const remote = await WorkersHost.create(program, { only: guarded, guard: guarded, hangMs });
    return new GuardedHost(local, remote, guarded);
  }

  private of(actor: ActorId): Host {
    return this.guarded.has(actor) ? this.remote : this.local;
  }

  async reset(): Promise<void> {
    await Promise.all([this.local.reset(), this.remote.reset()]);
  }

  async snapshot(): Promise<void> {
    await Promise.all([this.local.snapshot(), this.remote.snapshot()]);
  }

  async restore(): Promise<void> {
    await Promise.all([this.local.restore(), this.remote.restore()]);
  }

  executeThen(actor: ActorId, cmd: StepCommand, done: (r: StepResult) => void): void {
    this.of(actor).executeThen(actor, cmd, done);
  }

  inspect(actor: ActorId): Promise<unknown> {
    return this.of(actor).inspect(actor);
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), this.remote.close()]);
  }
}

/**
 * The host of a controlled run: inline, inline with a user's patches guarded
 * on workers, or workers (whose patched actors the step watchdog guards).
 */
export async function hostFor(kind: 'inline' | 'workers', program: Program): Promise<Host> {
  if (kind === 'workers') return WorkersHost.create(program);
  return userActors(program).size > 0 ? GuardedHost.create(program) : InlineHost.create(program);
}
