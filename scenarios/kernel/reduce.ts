import { InputError } from '../../runtime/input-error.ts';
import type { Program, TaskSpec } from '../../runtime/program.ts';
import type { DroppedOp, ReplayFile } from '../../runtime/replay-file.ts';
import type { Scenario, VariantAssignment } from '../scenario.ts';

/**
 * A kernel-model program with some scenario operations left out: what a
 * shrunk replay runs. The operations are the calls of the `after_boot` tasks
 * and the ops of the userspace processes' `main` tasks (kernelProgram);
 * the boot task and the topology are never reduced. An op is named by its
 * task and its index in the task's list as the scenario wrote it, so a set
 * of dropped ops means the same thing whatever order it is applied in.
 */

/** The op list a scenario task carries in its body, and the body key that holds it. */
function opList(t: TaskSpec): { readonly key: 'calls' | 'ops'; readonly items: readonly unknown[] } | null {
  if (typeof t.body !== 'object' || t.body === null) return null;
  const body = t.body as Readonly<Record<string, unknown>>;
  if (t.op === 'after_boot' && Array.isArray(body.calls)) return { key: 'calls', items: body.calls };
  if (t.op === 'main' && Array.isArray(body.ops)) return { key: 'ops', items: body.ops };
  return null;
}

/** Every scenario operation of the program, task by task in program order. */
export function programOps(p: Program): DroppedOp[] {
  const out: DroppedOp[] = [];
  for (const t of p.tasks) {
    const l = opList(t);
    if (l !== null) for (let i = 0; i < l.items.length; i++) out.push({ task: t.id, index: i });
  }
  return out;
}

/**
 * The program without the dropped ops; a task left with no op is left out
 * too (it would only wait for the boot and end). A drop that names no task
 * or op of this program is bad input naming `drop[i]` in `file`.
 */
export function reduceProgram(p: Program, drop: readonly DroppedOp[], file: string | null = null): Program {
  if (drop.length === 0) return p;
  const byTask = new Map<string, Set<number>>();
  drop.forEach((d, i) => {
    const t = p.tasks.find((x) => x.id === d.task);
    const l = t === undefined ? null : opList(t);
    if (l === null) {
      const names = p.tasks.filter((x) => opList(x) !== null).map((x) => x.id);
      throw new InputError(`no scenario task "${d.task}" in this program (tasks: ${names.join(', ') || 'none'})`, file, `drop[${i}].task`);
    }
    if (d.index >= l.items.length) throw new InputError(`task "${d.task}" has ${l.items.length} op(s); there is no op ${d.index}`, file, `drop[${i}].index`);
    const set = byTask.get(d.task) ?? new Set<number>();
    set.add(d.index);
    byTask.set(d.task, set);
  });
  const tasks: TaskSpec[] = [];
  for (const t of p.tasks) {
    const gone = byTask.get(t.id);
    const l = opList(t);
    if (gone === undefined || l === null) {
      tasks.push(t);
      continue;
    }
    const kept = l.items.filter((_, i) => !gone.has(i));
    if (kept.length > 0) tasks.push({ ...t, body: { ...(t.body as object), [l.key]: kept } });
  }
  return { ...p, tasks };
}

/** The program a replay file runs: the scenario's program for its variants, less the replay's dropped ops. */
export function replayProgram(s: Scenario, variants: VariantAssignment, rf: ReplayFile, file: string): Program {
  return reduceProgram(s.program(variants), rf.drop ?? [], file);
}
