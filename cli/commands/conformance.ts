import { InputError } from '../../runtime/input-error.ts';
import type { HostKind } from '../../runtime/hosts/host.ts';
import { allUnits, builtinUnit, exitCodeOf, isPluginArg, pluginUnit, printReport, runConformance } from '../../scenarios/conformance/index.ts';
import type { UnitUnderTest } from '../../scenarios/conformance/index.ts';
import { HOST_FLAG, JSON_FLAG, SEED_FLAG, has, int, parseArgs, str, noArguments } from '../args.ts';
import type { CommandIo } from '../io.ts';

/**
 * `conformance [--unit KIND[@VERSION] | --unit FILE[#EXPORT] [--as KIND@VERSION] | --all] [--json]`:
 * the IOMMU unit conformance suite (scenarios/conformance/, docs/hardware.md).
 * Exit 0 when every case passes or deviates as documented, 1 when a case
 * fails, 2 for a bad flag or an unknown unit / unloadable plug-in.
 */
export async function conformance(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('conformance', argv, {
    unit: { kind: 'multi', arg: 'KIND[@VERSION]|FILE[#EXPORT]', help: 'a built-in unit, or a plug-in module implementing one' },
    as: { kind: 'value', arg: 'KIND@VERSION', help: 'the unit kind a plug-in module claims to be (default vtd@7.0)' },
    all: { kind: 'bool', help: 'every built-in unit' },
    case: { kind: 'multi', arg: 'NAME', help: 'run only this case' },
    host: HOST_FLAG,
    seed: SEED_FLAG,
    json: JSON_FLAG,
  });
  noArguments('conformance', p);
  const given = p.flags.get('unit') ?? [];
  if (has(p, 'all') === (given.length > 0)) throw new InputError('conformance: give --unit KIND[@VERSION] (or a plug-in module path) or --all');
  const as = str(p, 'as');
  if (as !== undefined && !given.some(isPluginArg)) throw new InputError('--as applies to a plug-in --unit (a module path)');
  const units: UnitUnderTest[] = [];
  if (has(p, 'all')) units.push(...allUnits());
  for (const u of given) units.push(isPluginArg(u) ? await pluginUnit(u, as ?? 'vtd@7.0') : builtinUnit(u));
  const json = has(p, 'json');
  const report = await runConformance(units, {
    host: (str(p, 'host') ?? 'inline') as HostKind,
    seed: int(p, 'seed', 0, 1),
    ...(p.flags.has('case') ? { cases: p.flags.get('case')! } : {}),
    // progress on stderr for people; --json is for programs and stays silent
    progress: json ? () => {} : (l) => io.err(`${l}\n`),
  });
  if (json) io.json(report);
  else io.out(printReport(report));
  return exitCodeOf(report);
}
