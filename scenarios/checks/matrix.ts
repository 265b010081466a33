import { lockManagerSpec } from '../../actors/lock-manager.ts';
import type { LifetimeActorConfig, LifetimeMailbox } from './lifetime-actors.ts';
import type { RaceActorConfig, RaceMailbox } from './race-actors.ts';
import type { Program, TaskSpec } from '../../runtime/program.ts';
import type { FindingKind } from '../../protocol/findings.ts';
import { actorId, taskId } from '../../protocol/ids.ts';

/**
 * The race and lifetime checkers' scenario matrix, in the spirit of the
 * kernel's lib/locking-selftest.c: named shapes, each expected to be
 * flagged with one finding kind or to stay clean in every schedule.
 *
 * `expected` is the kind the case exists for; `also` lists kinds the same
 * bug legitimately yields too (an unguarded write that also races). A
 * flagged case may need a particular interleaving: tests explore schedules
 * until it shows. A clean case must stay clean in all of them.
 */
export interface CheckCase {
  readonly name: string;
  readonly expected: FindingKind | null;
  readonly also?: readonly FindingKind[];
  /** True when every schedule shows the bug (no exploration needed). */
  readonly always: boolean;
  readonly program: Program;
}

export interface MatrixOptions {
  /**
   * Prefix of task ids and suffix of object names. Changing it renames every
   * instance without changing the program, which is how tests check that
   * signatures never carry instance ids. Default "t".
   */
  readonly tag?: string;
  /** Pass CONFIG_DEBUG_KOBJECT_RELEASE to the lifetime actor. */
  readonly debugKobjectRelease?: boolean;
}

const APP = actorId('app');
const LOCKS = actorId('locks');

type Op<M extends { readonly op: string; readonly body: unknown }> = { [K in M['op']]: { readonly op: K; readonly body: Extract<M, { op: K }>['body'] } }[M['op']];

function raceProgram(name: string, tag: string, objects: readonly string[], tasks: readonly Op<RaceMailbox>[]): Program {
  const config: RaceActorConfig = { objects };
  return {
    name: `checks/${name}`,
    actors: [
      { id: APP, module: 'scenarios/checks/race-actors', export: 'raceApp', config },
      lockManagerSpec(LOCKS),
    ],
    lockManagers: [LOCKS],
    tasks: tasks.map((t, i): TaskSpec => ({ id: taskId(`${tag}${i + 1}`), to: APP, op: t.op, body: t.body })),
  };
}

function lifetimeProgram(name: string, tag: string, debug: boolean, task: Op<LifetimeMailbox>): Program {
  const config: LifetimeActorConfig = { debugKobjectRelease: debug };
  return {
    name: `checks/${name}`,
    actors: [
      { id: APP, module: 'scenarios/checks/lifetime-actors', export: 'lifetimeApp', config },
      lockManagerSpec(LOCKS),
    ],
    lockManagers: [LOCKS],
    tasks: [{ id: taskId(`${tag}1`), to: APP, op: task.op, body: task.body }],
  };
}

export function checkMatrix(opts: MatrixOptions = {}): readonly CheckCase[] {
  const tag = opts.tag ?? 't';
  const debug = opts.debugKobjectRelease ?? false;
  // Static objects are named "<type>@<instance>" so their type survives renaming (object-types.ts).
  const word = `word@${tag}`;
  const lock = `${word}/mutex`;
  const devIommu = `dev_iommu@${tag}`;
  const groupMutex = `group@${tag}/mutex`;
  const race = (name: string, objects: readonly string[], tasks: readonly Op<RaceMailbox>[]): Program => raceProgram(name, tag, objects, tasks);
  const life = (name: string, task: Op<LifetimeMailbox>): Program => lifetimeProgram(name, tag, debug, task);

  return [
    // ---- races: lockset ---------------------------------------------------------------
    {
      name: 'unguarded-write', expected: 'unguarded-access', also: ['data-race'], always: true,
      program: race('unguarded-write', [word], [
        { op: 'write_locked', body: { obj: word, lock, guard: true } },
        { op: 'write_unlocked', body: { obj: word, lock, guard: true } },
      ]),
    },
    {
      name: 'guarded-rmw', expected: null, always: true,
      program: race('guarded-rmw', [word], [
        { op: 'rmw_locked', body: { obj: word, lock, guard: true } },
        { op: 'rmw_locked', body: { obj: word, lock, guard: true } },
      ]),
    },
    // ---- races: happens-before ----------------------------------------------------------
    {
      name: 'ordered-by-spawn', expected: null, always: true,
      program: race('ordered-by-spawn', [word], [{ op: 'write_then_spawn', body: { obj: word } }]),
    },
    {
      name: 'write-after-spawn', expected: 'data-race', always: true,
      program: race('write-after-spawn', [word], [{ op: 'spawn_then_write', body: { obj: word } }]),
    },
    {
      // no guard declared: only the lock's release→acquire edge keeps these apart
      name: 'ordered-by-lock', expected: null, always: true,
      program: race('ordered-by-lock', [word], [
        { op: 'write_locked', body: { obj: word, lock, guard: false } },
        { op: 'read_locked', body: { obj: word, lock, guard: false } },
      ]),
    },
    {
      name: 'ordered-by-completion', expected: null, always: true,
      program: race('ordered-by-completion', [word], [{ op: 'spawn_and_wait', body: { obj: word, comp: `${word}/done` } }]),
    },
    {
      name: 'marked-vs-marked', expected: null, always: true,
      program: race('marked-vs-marked', [word], [
        { op: 'write_once', body: { obj: word } },
        { op: 'read_once', body: { obj: word, lock, guard: true } },
      ]),
    },
    {
      name: 'marked-read-vs-plain-write', expected: 'data-race', always: true,
      program: race('marked-read-vs-plain-write', [word], [
        { op: 'write_locked', body: { obj: word, lock, guard: true } },
        { op: 'read_once', body: { obj: word, lock, guard: true } },
      ]),
    },
    {
      // seed 003: attach_deferred cleared under group->mutex, pci_32bit_workaround without it, one u32
      name: 'lost-update-bitfield', expected: 'data-race', always: true,
      program: race('lost-update-bitfield', [devIommu], [
        { op: 'iommu_deferred_attach', body: { obj: devIommu, lock: groupMutex, guard: true } },
        { op: 'iommu_dma_alloc_iova', body: { obj: devIommu } },
      ]),
    },
    // ---- lifetime ----------------------------------------------------------------------
    {
      // seed 004: a device pointer kept after bus_for_each_dev() moved on, while another task removes it
      name: 'uaf-iterator-escape', expected: 'use-after-free', always: false,
      program: life('uaf-iterator-escape', { op: 'setup_bus', body: { devices: 1, spawn: [{ op: 'iommu_domain_alloc' }, { op: 'bus_remove_device' }] } }),
    },
    {
      name: 'iterator-keeps-ref', expected: null, always: true,
      program: life('iterator-keeps-ref', { op: 'setup_bus', body: { devices: 1, spawn: [{ op: 'iommu_domain_alloc_ref' }, { op: 'bus_remove_device' }] } }),
    },
    {
      name: 'uaf-message-in-flight', expected: 'use-after-free', always: !debug,
      program: life('uaf-message-in-flight', { op: 'queue_notify_then_free', body: null }),
    },
    {
      name: 'double-put', expected: 'refcount-underflow', always: true,
      program: life('double-put', { op: 'probe_error_path', body: null }),
    },
    {
      name: 'leak', expected: 'refcount-leak', always: true,
      program: life('leak', { op: 'attach_leaks_ref', body: null }),
    },
    {
      name: 'balanced-refcount', expected: null, always: true,
      program: life('balanced-refcount', { op: 'attach_balanced', body: null }),
    },
  ];
}
