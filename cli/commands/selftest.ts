import { InputError } from '../../runtime/input-error.ts';
import { printSelftestReport, runLockingSelftest } from '../../scenarios/selftest/index.ts';
import { HOST_FLAG, JSON_FLAG, SEED_FLAG, exactlyOne, has, int, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { createHost } from '../run-one.ts';

/** `selftest locking`: the kernel's locking-selftest matrix as tasks in our runtime. */
export async function selftest(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('selftest', argv, {
    host: HOST_FLAG,
    schedules: { kind: 'value', arg: 'N', help: 'schedules per case (default 3)' },
    seed: SEED_FLAG,
    json: JSON_FLAG,
  });
  const suite = exactlyOne('selftest', p, 'suite (locking)');
  if (suite !== 'locking') throw new InputError(`unknown selftest suite "${suite}" (suites: locking)`);
  const hostKind = (str(p, 'host') ?? 'inline') as 'inline' | 'workers';
  const report = await runLockingSelftest((program) => createHost(hostKind, program), {
    schedules: int(p, 'schedules', 1, 3),
    seed: int(p, 'seed', 0, 1),
  });
  if (has(p, 'json')) io.json(report);
  else io.out(printSelftestReport(report));
  return report.cases.every((c) => c.pass) ? 0 : 1;
}
