import path from 'node:path';
import { defaultCheckers } from '../../checkers/index.ts';
import { InputError } from '../../runtime/input-error.ts';
import { REPLAY_FORMAT, REPLAY_VERSION, readReplayFile, replayOf } from '../../runtime/replay-file.ts';
import type { ReplayFile } from '../../runtime/replay-file.ts';
import { explorersFor } from '../../runtime/shrink/search.ts';
import type { ShrinkTarget } from '../../runtime/shrink/search.ts';
import { switchesOf } from '../../runtime/shrink/schedule.ts';
import { replayHit, shrink as shrinkFinding } from '../../runtime/shrink/shrink.ts';
import { loadScenario } from '../../scenarios/index.ts';
import { programOps, reduceProgram, replayProgram } from '../../scenarios/kernel/reduce.ts';
import { JSON_FLAG, exactlyOne, has, int, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { writeAtomic } from '../output.ts';
import { resolveVariants } from '../run-one.ts';

/** Executions the schedule phase may spend (deterministic: a count, never a time). */
const SCHEDULE_EXECUTIONS = 300;

/** `x/replay.json` → `x/replay.shrunk.json`. */
export function defaultShrunkPath(file: string): string {
  const ext = path.extname(file);
  return path.join(path.dirname(file), `${path.basename(file, ext)}.shrunk${ext === '' ? '.json' : ext}`);
}

/**
 * Shrinks a replay's finding: fewer scenario ops (delta debugging), then a
 * schedule with fewer context switches and steps; writes a replay file that
 * `replay` reproduces exactly. Exit 0 when the shrunk replay reproduces the
 * signature, 1 when the input replay does not reproduce it, 2 on bad input.
 */
export async function shrink(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('shrink', argv, {
    out: { kind: 'value', arg: 'FILE', help: 'the shrunk replay (default: beside the input, .shrunk.json)' },
    schedules: { kind: 'value', arg: 'N', help: 'exploration per candidate (default 150)' },
    json: JSON_FLAG,
  });
  const file = exactlyOne('shrink', p, 'replay file');
  const json = has(p, 'json');
  const schedules = int(p, 'schedules', 0, 150);
  const outFile = str(p, 'out') ?? defaultShrunkPath(file);
  const rf = readReplayFile(file);
  if (rf.finding === null) throw new InputError('the replay records no finding: nothing to shrink', file, 'finding');
  const s = await loadScenario(rf.scenario);
  const variants = resolveVariants(s, rf.variants, `${file}: variants`);
  const full = s.program(variants);
  const input = replayProgram(s, variants, rf, file);
  const target: ShrinkTarget = { signature: rf.finding.signature, seed: rf.seed, checkers: s.checkers ?? defaultCheckers };
  const progress = json ? null : (l: string): void => io.err(l + '\n');
  const t0 = performance.now();

  const start = await replayHit(input, target, rf.decisions);
  const opsBefore = programOps(input).length;
  if (start === null) {
    if (json) io.json({ before: { ops: opsBefore, steps: null }, after: null, signature: rf.finding.signature, out: null, reproduced: false });
    else io.out(`${file}: does not reproduce ${rf.finding.title}; nothing to shrink\n`);
    return 1;
  }

  const r = await shrinkFinding({
    ops: programOps(full), dropped: rf.drop ?? [], programFor: (drop) => reduceProgram(full, drop, file), target, start,
    budget: { schedules, explorers: explorersFor(rf.strategy, rf.seed, rf.schedule) },
    scheduleExecutions: SCHEDULE_EXECUTIONS, progress,
  });
  // What `replay` will do with the file: a strict replay from a fresh host.
  const check = await replayHit(r.program, target, r.hit.decisions);
  if (check === null || check.traceHash !== r.hit.traceHash) throw new Error('the shrunk schedule does not replay exactly');

  const shrunk: ReplayFile = {
    format: REPLAY_FORMAT, version: REPLAY_VERSION, scenario: rf.scenario, variants: rf.variants, seed: rf.seed,
    mode: 'controlled', strategy: 'shrink', schedule: rf.schedule, decisions: r.hit.decisions,
    finding: replayOf(r.hit.finding), traceHash: r.hit.traceHash,
    ...(r.drop.length > 0 ? { drop: r.drop } : {}),
  };
  writeAtomic(outFile, JSON.stringify(shrunk) + '\n');
  const report = {
    before: { ops: opsBefore, steps: start.steps, switches: switchesOf(start.decisions) },
    after: { ops: r.opsAfter, steps: r.hit.steps, switches: switchesOf(r.hit.decisions) },
    signature: r.hit.finding.signature, out: outFile, reproduced: true,
    executions: r.executions, elapsedMs: Math.round(performance.now() - t0),
  };
  if (json) {
    io.json(report);
  } else {
    io.out(`${file}: ${r.hit.finding.title}\n`
      + `  ops ${report.before.ops} -> ${report.after.ops}, steps ${report.before.steps} -> ${report.after.steps}, `
      + `context switches ${report.before.switches} -> ${report.after.switches} (${r.executions} executions)\n`
      + `  wrote ${outFile}\n`);
  }
  return 0;
}
