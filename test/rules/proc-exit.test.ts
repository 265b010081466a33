import { describe, expect, it } from 'vitest';
import { processTask } from '../../protocol/vfio.ts';
import type { ProcOp } from '../../protocol/vfio.ts';
import { runExecution } from '../../runtime/execution.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { exit, getDeviceFd, openContainer, openGroup, setContainer, setIommu, vfioProgram } from '../vfio/helpers.ts';
import { FN0, FN1 } from '../vfio/topology.ts';

/**
 * Issue 14 item 6: exit(2) in the exiting task. close_files() walks the fd table in ascending fd
 * order; the releases (____fput from task_work, LIFO since c82199061009) then run last-closed
 * first, one after the other, all in the exiting task — no task per fd.
 */
async function exitTrace(last: ProcOp, seed: number) {
  // fds 3 group, 4 container, 5 FN0's device, 6 FN1's device
  const ops: ProcOp[] = [openGroup(FN0), openContainer(), setContainer(), setIommu(), getDeviceFd(FN0, 'group', 'd0'), getDeviceFd(FN1, 'group', 'd1'), last];
  const program = vfioProgram({ processes: [{ name: 'qemu', ops, stay: true }] });
  const host = await InlineHost.create(program);
  try {
    await host.reset();
    return await runExecution(host, program, new RandomStrategy(seed), { seed, record: true, checkers: kernelCheckers() });
  } finally {
    await host.close();
  }
}

describe('proc.exit closes the fd table in the exiting task (do_exit → exit_files)', () => {
  it('two open device fds: released in one task, in fd order (last closed first), every seed alike', async () => {
    for (const seed of [1, 2]) {
      const r = await exitTrace(exit, seed);
      expect(r.outcome).toBe('completed');
      const results = r.results[processTask('qemu')] as readonly { readonly ret: unknown }[];
      const d0 = results[4]!.ret as string;
      const d1 = results[5]!.ret as string;
      const group = results[0]!.ret as string;
      const events = (r.trace ?? []).flatMap((t) => t.events);
      const frees = events.filter((e) => e.ev === 'free' && [d0, d1, group].includes(e.obj));
      // every release in the process's own task
      expect(new Set(frees.map((e) => e.task))).toEqual(new Set([processTask('qemu')]));
      // FN1's device fd (6) before FN0's (5), the group fd (3) last
      expect(frees.map((e) => (e as { obj: string }).obj)).toEqual([d1, d0, group]);
      // no task of its own per fd: the process ran in its main task only
      expect(new Set((r.trace ?? []).map((t) => t.task).filter((t) => t.startsWith('proc:')))).toEqual(new Set([processTask('qemu')]));
      expect(r.findings.map((f) => f.kind)).toEqual([]);
    }
  });

  it('proc.close_all keeps the old form: one task per fd', async () => {
    const r = await exitTrace({ do: 'close_all' }, 1);
    // the main task and one task per open fd (group, container, two device fds)
    expect(new Set((r.trace ?? []).map((t) => t.task).filter((t) => t.startsWith('proc:'))).size).toBe(5);
  });
});
