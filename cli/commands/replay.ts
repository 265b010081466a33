import { runExecution } from '../../runtime/execution.ts';
import { readReplayFile, sameFailure } from '../../runtime/replay-file.ts';
import { ReplayStrategy } from '../../runtime/strategies/replay.ts';
import { defaultCheckers } from '../../checkers/index.ts';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadScenario } from '../../scenarios/index.ts';
import { isScenarioFile } from '../../scenarios/format/load.ts';
import { replayProgram } from '../../scenarios/kernel/reduce.ts';
import { expectedFor } from '../../scenarios/scenario.ts';
import { HOST_FLAG, JSON_FLAG, exactlyOne, has, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { createHost, matches, resolveVariants } from '../run-one.ts';

/** Runs a replay file once in controlled mode and says whether it hit the recorded finding. */
export async function replay(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('replay', argv, { host: HOST_FLAG, json: JSON_FLAG });
  const file = exactlyOne('replay', p, 'replay file');
  const rf = readReplayFile(file);
  // a relative document path is looked up next to the replay first (stress writes its scenario there), then as given
  const beside = path.join(path.dirname(file), rf.scenario);
  const s = await loadScenario(isScenarioFile(rf.scenario) && !path.isAbsolute(rf.scenario) && existsSync(beside) ? beside : rf.scenario);
  const variants = resolveVariants(s, rf.variants, `${file}: variants`);
  const program = replayProgram(s, variants, rf, file);
  const hostKind = (str(p, 'host') ?? 'inline') as 'inline' | 'workers';
  const host = await createHost(hostKind, program);
  const t0 = performance.now();
  let r;
  try {
    r = await runExecution(host, program, new ReplayStrategy(rf.decisions), {
      seed: rf.seed,
      checkers: (s.checkers ?? defaultCheckers)(),
      // a free-mode record is the order of a run where every task started at once
      setupPhase: rf.mode !== 'free',
    });
  } finally {
    await host.close();
  }
  const recorded = rf.finding?.signature ?? null;
  const reproduced = recorded === null ? r.findings.length === 0 : r.findings.some((f) => sameFailure(recorded, f.signature));
  const expected = expectedFor(s, variants);
  const report = {
    scenario: s.name, variants, host: hostKind, mode: 'controlled', strategy: 'replay', seed: rf.seed,
    schedules: 1, steps: r.steps, setupSteps: r.setupSteps, elapsedMs: Math.round(performance.now() - t0), expected,
    matched: matches(expected, r.findings.map((f) => f.kind)), reproduced, divergence: r.divergence,
    traceHash: r.traceHash,
    findings: r.findings.map((f) => ({ kind: f.kind, title: f.title, signature: f.signature, firstSchedule: 0, count: 1, replay: file, report: f.report })),
  };
  if (has(p, 'json')) {
    io.json(report);
  } else {
    io.out(`${file}: ${reproduced ? 'reproduced' : 'NOT reproduced'} ${rf.finding?.title ?? '(no finding recorded)'} in ${r.steps} steps (${hostKind})\n`);
    if (r.divergence !== null) io.out(`replay diverged: ${r.divergence}\n`);
    for (const f of r.findings) io.out(`\n${f.title}\n${f.report}`);
  }
  return reproduced ? 0 : 1;
}
