import { replayRecording } from '../../api/replay.ts';
import { readReplayFile } from '../../runtime/replay-file.ts';
import { HANG_FLAG, HOST_FLAG, JSON_FLAG, exactlyOne, has, num, parseArgs, str } from '../args.ts';
import { setStepHang } from '../../runtime/user-code.ts';
import type { CommandIo } from '../io.ts';

/** Runs a replay file once in controlled mode and says whether it hit the recorded finding. */
export async function replay(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('replay', argv, { host: HOST_FLAG, hang: HANG_FLAG, json: JSON_FLAG });
  const hang = num(p, 'hang', 0.05);
  setStepHang(hang !== undefined ? hang * 1000 : undefined);
  const file = exactlyOne('replay', p, 'replay file');
  const rf = readReplayFile(file);
  const hostKind = (str(p, 'host') ?? 'inline') as 'inline' | 'workers';
  const report = await replayRecording(rf, { host: hostKind, file });
  if (has(p, 'json')) {
    io.json(report);
  } else {
    io.out(`${file}: ${report.reproduced ? 'reproduced' : 'NOT reproduced'} ${rf.finding?.title ?? '(no finding recorded)'} in ${report.steps} steps (${hostKind})\n`);
    if (report.divergence !== null) io.out(`replay diverged: ${report.divergence}\n`);
    for (const f of report.findings) io.out(`\n${f.title}\n${f.report}`);
  }
  return report.reproduced ? 0 : 1;
}
