import { traceOfRecording } from '../../api/report.ts';
import { REPORT_FORMATS, readReportInput, renderReport } from '../../report/index.ts';
import type { ReportFormat, TraceDocument } from '../../report/index.ts';
import { HOST_FLAG, exactlyOne, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutFile, writeAtomic } from '../output.ts';

/**
 * `report <trace-or-replay> --format text|perfetto|dot|md|trace|html [--out FILE]`:
 * a replay file is re-run once in controlled mode with the full trace
 * recorded; a trace document (`--format trace`) is rendered as it is.
 * Exit 0, or 1 when the replay no longer hits the finding it recorded (the
 * report is still written, about what the run did).
 */
export async function report(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('report', argv, {
    format: { kind: 'value', values: REPORT_FORMATS, arg: 'FORMAT', help: 'what to render (default text; html: one self-contained page)' },
    out: { kind: 'value', arg: 'FILE', help: 'write here instead of stdout' },
    host: HOST_FLAG,
  });
  const file = exactlyOne('report', p, 'replay or trace file');
  const format = (str(p, 'format') ?? 'text') as ReportFormat;
  const input = readReportInput(file);
  const outFile = str(p, 'out');
  if (outFile !== undefined) checkOutFile('--out', outFile);
  const doc: TraceDocument = input.kind === 'trace'
    ? input.doc
    : await traceOfRecording(input.replay, { host: (str(p, 'host') ?? 'inline') as 'inline' | 'workers', file });
  const text = await renderReport(doc, format);
  const out = str(p, 'out');
  if (out === undefined) io.out(text);
  else {
    writeAtomic(out, text);
    io.err(`wrote ${format} report of ${doc.scenario} (${doc.trace.length} steps, ${doc.findings.length} finding${doc.findings.length === 1 ? '' : 's'}) to ${out}\n`);
  }
  if (doc.reproduced === false) io.err(`warning: the replay did not reproduce ${doc.recorded?.title ?? 'its finding'}${doc.divergence === null ? '' : ` (${doc.divergence})`}\n`);
  return doc.reproduced === false ? 1 : 0;
}
