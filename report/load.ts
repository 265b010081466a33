import { readFileSync } from 'node:fs';
import { InputError } from '../runtime/input-error.ts';
import { REPLAY_FORMAT, parseReplayFile } from '../runtime/replay-file.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import { parseJson } from '../scenarios/format/issues.ts';
import { TRACE_FORMAT, checkTraceDocument } from './trace-doc.ts';
import type { TraceDocument } from './trace-doc.ts';

/** What `report` was given: a replay file to re-run, or a trace already recorded. */
export type ReportInput =
  | { readonly kind: 'replay'; readonly replay: ReplayFile }
  | { readonly kind: 'trace'; readonly doc: TraceDocument };

/** Reads a replay file or a trace document, telling them apart by their `format` field. */
export function readReportInput(file: string): ReportInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read: ${e instanceof Error ? e.message : String(e)}`, file);
  }
  const doc = parseJson(text, file, '(document)');
  const format = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>).format : undefined;
  if (format === TRACE_FORMAT) return { kind: 'trace', doc: checkTraceDocument(doc, file) };
  if (format === REPLAY_FORMAT) return { kind: 'replay', replay: parseReplayFile(text, file) };
  throw new InputError(`expected "${REPLAY_FORMAT}" (a replay file from run/compare) or "${TRACE_FORMAT}" (a trace saved by report --format trace)`, file, 'format');
}
