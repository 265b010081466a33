import { defaultCheckers } from '../checkers/index.ts';
import { createHost, resolveVariants } from '../cli/run-one.ts';
import type { HostKind } from '../runtime/hosts/host.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { recordTrace } from '../report/index.ts';
import type { TraceDocument } from '../report/index.ts';
import type { Scenario } from '../scenarios/scenario.ts';
import { scenarioOfRecording } from './replay.ts';

export interface TraceOptions {
  readonly host?: HostKind;
  readonly scenario?: Scenario;
  /** The replay file the recording was read from (the trace names it; a relative scenario path is looked up beside it). */
  readonly file?: string;
}

/** Re-runs a recording once in controlled mode with every event recorded: the document every report format renders. */
export async function traceOfRecording(rf: ReplayFile, opts: TraceOptions = {}): Promise<TraceDocument> {
  const where = opts.file ?? 'the replay';
  const s = opts.scenario ?? (await scenarioOfRecording(rf, opts.file));
  const variants = resolveVariants(s, rf.variants, `${where}: variants`);
  const program = s.program(variants);
  const host = await createHost(opts.host ?? 'inline', program);
  try {
    return await recordTrace({ host, program, checkers: s.checkers !== undefined ? s.checkers(variants) : defaultCheckers(), replay: rf, variants, source: opts.file ?? null });
  } finally {
    await host.close();
  }
}
