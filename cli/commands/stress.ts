import { InputError } from '../../runtime/input-error.ts';
import { CHAOS_MODES, DEFAULT_CHAOS } from '../../runtime/hosts/free-chaos.ts';
import type { ChaosMode } from '../../runtime/hosts/free-chaos.ts';
import { VARIANT_AXES, isVariantAxis } from '../../protocol/variants.ts';
import { runStress } from '../../stress/engine.ts';
import type { StressResult } from '../../stress/engine.ts';
import { FIXED_VARIANTS } from '../../protocol/fixed-variants.ts';
import { MAX_DEVICES_PER_UNIT } from '../../stress/topology.ts';
import { JSON_FLAG, OUT_DIR_FLAG, SEED_FLAG, has, int, num, parseArgs, str, noArguments } from '../args.ts';
import type { FlagSpec } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutDir } from '../output.ts';
import { interruptCode } from '../../runtime/interrupt.ts';

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  devices: { kind: 'value', arg: 'N', help: 'PCI devices of the generated machine (default 1024)' },
  units: { kind: 'value', arg: 'N', help: 'IOMMU units, one worker thread each (default 16, at most 64)' },
  tasks: { kind: 'value', arg: 'N', help: 'tasks per round (default 64)' },
  time: { kind: 'value', arg: 'SECONDS', help: 'run time after boot (default 60)' },
  seed: SEED_FLAG,
  variant: { kind: 'multi', arg: 'NAME=VALUE', help: 'a variant axis\'s value' },
  fixed: { kind: 'bool', help: 'every axis at its fixed value' },
  hang: { kind: 'value', arg: 'SECONDS', help: 'the watchdog reports a hang after this long without progress' },
  rounds: { kind: 'value', arg: 'N', help: 'stop after N rounds' },
  'no-verify': { kind: 'bool', help: 'do not replay findings in controlled mode' },
  chaos: { kind: 'value', values: CHAOS_MODES, arg: 'MODE', help: `delay injection at deliveries, lock grants and wake-ups (default ${DEFAULT_CHAOS}; docs/runtime.md "Chaos")` },
  out: OUT_DIR_FLAG,
  json: JSON_FLAG,
};

/**
 * `iommu-lab stress`: real concurrency on a generated machine with churn
 * (docs/stress.md). Exit 0 when nothing new was found (known upstream
 * issues are counted apart), 1 when something was.
 */
export async function stress(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('stress', argv, FLAGS);
  const units = int(p, 'units', 1, 16);
  noArguments('stress', p);
  if (units > 64) throw new InputError(`--units must be at most 64 (got ${units}): every unit is a worker thread`);
  const devices = int(p, 'devices', 1, 1024);
  if (devices < 2 * units) throw new InputError(`--devices must be at least 2 per unit (${2 * units} for ${units} units; got ${devices})`);
  if (devices > MAX_DEVICES_PER_UNIT * units) throw new InputError(`--devices must be at most ${MAX_DEVICES_PER_UNIT} per unit (${MAX_DEVICES_PER_UNIT * units} for ${units} units; got ${devices})`);
  const tasks = int(p, 'tasks', 1, 64);
  if (tasks > 4096) throw new InputError(`--tasks must be at most 4096 (got ${tasks})`);
  const time = num(p, 'time', 0) ?? 60;
  const hang = num(p, 'hang', 0.1);
  const rounds = str(p, 'rounds') === undefined ? undefined : int(p, 'rounds', 1, 1);
  const variants: Record<string, string> = has(p, 'fixed') ? { ...FIXED_VARIANTS } : {};
  for (const v of p.flags.get('variant') ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new InputError(`--variant takes NAME=VALUE (got "${v}")`);
    const axis = v.slice(0, eq);
    const value = v.slice(eq + 1);
    if (!isVariantAxis(axis)) throw new InputError(`unknown variant axis "${axis}" (axes: ${Object.keys(VARIANT_AXES).join(', ')})`, null, '--variant');
    const values: readonly string[] = VARIANT_AXES[axis];
    if (!values.includes(value)) throw new InputError(`unknown value "${value}" for variant axis "${axis}" (values: ${values.join(', ')})`, null, '--variant');
    variants[axis] = value;
  }
  const json = has(p, 'json');
  checkOutDir('--out', str(p, 'out') ?? 'out');
  const r = await runStress({
    devices, units, tasks, timeMs: time * 1000, seed: int(p, 'seed', 0, 1), variants, out: str(p, 'out') ?? 'out',
    ...(hang !== undefined ? { hangMs: hang * 1000 } : {}),
    ...(rounds !== undefined ? { maxRounds: rounds } : {}),
    verify: !has(p, 'no-verify'),
    ...(has(p, 'chaos') ? { chaos: str(p, 'chaos') as ChaosMode } : {}),
    progress: json ? null : (l) => io.err(l + '\n'),
  });
  if (json) io.json({ ...r, variants, interrupted: r.outcome === 'interrupted' });
  else io.out(printStress(r, variants));
  return interruptCode() ?? (r.findings.length === 0 ? 0 : 1);
}

function printStress(r: StressResult, variants: Readonly<Record<string, string>>): string {
  const v = Object.entries(variants).map(([a, x]) => `${a}=${x}`).join(',') || 'model defaults';
  let s = `stress [${v}]: ${r.devices} devices, ${r.units} units, ${r.tasks} tasks per round, chaos ${r.chaos}; boot ${r.bootMs} ms (${r.bootSteps} steps)\n`;
  s += `${r.rounds} rounds in ${r.elapsedMs} ms (${r.outcome}): ${r.operations} operations, ${r.messages} messages, ${r.messagesPerSec} messages/s\n`;
  s += `op latency p50 ${r.opLatencyMs.p50} ms, p99 ${r.opLatencyMs.p99} ms; peak RSS ${r.peakRssMb} MB\n`;
  s += `episodes: ${Object.entries(r.episodes).map(([k, n]) => `${k} ${n}`).join(', ')}\n`;
  s += `known: ${r.known.reduce((n, k) => n + k.count, 0)}${r.known.length > 0 ? ` (${r.known.map((k) => `${k.id} [${k.kind}, ${k.source}] ${k.count}`).join(', ')})` : ''}\n`;
  s += `findings: ${r.findings.length === 0 ? 'none' : r.findings.length}\n`;
  for (const f of r.findings) {
    s += `\n${f.title}  (first in round ${f.firstSchedule}, seen in ${f.count} rounds; replay ${f.reproduced === null ? 'not checked' : f.reproduced ? 'reproduces' : 'DOES NOT reproduce'})\nreplay: ${f.replay}\n${f.report}`;
  }
  return s;
}
