import { validateChromeTrace } from './chrome-trace.ts';
import { renderDot } from './dot.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './md.ts';
import { renderPerfetto } from './perfetto.ts';
import { renderText } from './text.ts';
import type { TraceDocument } from './trace-doc.ts';

export type ReportFormat = 'text' | 'perfetto' | 'dot' | 'md' | 'trace' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'perfetto', 'dot', 'md', 'trace', 'html'];

export { recordTrace } from './record.ts';
export type { RecordOptions } from './record.ts';
export { readReportInput } from './load.ts';
export type { ReportInput } from './load.ts';
export { TRACE_FORMAT, TRACE_VERSION, checkTraceDocument } from './trace-doc.ts';
export type { TraceDocument, TraceFinding, LockGraph } from './trace-doc.ts';
export { validateChromeTrace } from './chrome-trace.ts';
export { renderHtml, renderCompareHtml } from './html.ts';
export type { HtmlRow } from './html.ts';
export type { ChromeTrace } from './chrome-trace.ts';

/** A recorded run in one of the report formats, as the text of a file (html draws its lock graph with a WASM Graphviz: async). */
export async function renderReport(doc: TraceDocument, format: ReportFormat): Promise<string> {
  return format === 'html' ? renderHtml(doc) : render(doc, format);
}

/** A recorded run in one of the synchronous report formats, as the text of a file. */
export function render(doc: TraceDocument, format: Exclude<ReportFormat, 'html'>): string {
  switch (format) {
    case 'text':
      return renderText(doc);
    case 'perfetto': {
      const t = renderPerfetto(doc);
      // Our own output must load in Perfetto; a broken one is our bug (exit 3), not the user's.
      const errors = validateChromeTrace(t);
      if (errors.length > 0) throw new Error(`perfetto export is not a valid Chrome trace: ${errors.slice(0, 3).join('; ')}`);
      return JSON.stringify(t) + '\n';
    }
    case 'dot':
      return renderDot(doc);
    case 'md':
      return renderMarkdown(doc);
    case 'trace':
      return JSON.stringify(doc) + '\n';
  }
}
