import path from 'node:path';
import { shrinkRecording } from '../../api/shrink.ts';
import { readReplayFile, replayScenario, scenarioRef } from '../../runtime/replay-file.ts';
import { isScenarioFile } from '../../scenarios/format/load.ts';
import { JSON_FLAG, exactlyOne, has, int, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutFile, writeAtomic } from '../output.ts';

/** `x/replay.json` → `x/replay.shrunk.json`. */
export function defaultShrunkPath(file: string): string {
  const ext = path.extname(file);
  return path.join(path.dirname(file), `${path.basename(file, ext)}.shrunk${ext === '' ? '.json' : ext}`);
}

/**
 * Shrinks a replay's finding (api/shrink.ts) and writes a replay file that
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
  checkOutFile(str(p, 'out') === undefined ? 'the shrunk replay' : '--out', outFile);
  const r = await shrinkRecording(rf, { file, schedules, progress: json ? null : (l: string): void => io.err(l + '\n') });
  if (!r.reproduced) {
    if (json) io.json({ before: r.before, after: null, signature: r.signature, out: null, reproduced: false });
    else io.out(`${file}: does not reproduce ${rf.finding?.title ?? r.signature}; nothing to shrink\n`);
    return 1;
  }
  // a document's path in the written file is relative to that file, as every replay file's is
  const scenario = scenarioRef(outFile, rf.scenario, isScenarioFile(rf.scenario) ? replayScenario(rf, file) : undefined);
  writeAtomic(outFile, JSON.stringify({ ...r.recording, scenario }) + '\n');
  const report = {
    before: r.before, after: r.after, signature: r.signature, out: outFile, reproduced: true,
    executions: r.executions, elapsedMs: r.elapsedMs,
  };
  if (json) {
    io.json(report);
  } else {
    io.out(`${file}: ${r.recording.finding?.title ?? r.signature}\n`
      + `  ops ${report.before.ops} -> ${report.after.ops}, steps ${report.before.steps} -> ${report.after.steps}, `
      + `context switches ${report.before.switches} -> ${report.after.switches} (${r.executions} executions)\n`
      + `  wrote ${outFile}\n`);
  }
  return 0;
}
