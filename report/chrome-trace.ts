/**
 * The Chrome Trace Event format (the JSON object form) as far as we write
 * it, and a checker for it. Perfetto (ui.perfetto.dev) and chrome://tracing
 * both load it. Times are microseconds.
 */

export type Phase = 'X' | 'B' | 'E' | 'i' | 'M' | 's' | 't' | 'f';

export interface TraceEvent {
  readonly name: string;
  readonly ph: Phase;
  readonly ts: number;
  readonly pid: number;
  readonly tid: number;
  readonly cat?: string;
  readonly dur?: number;
  /** Instant scope: global, process or thread. */
  readonly s?: 'g' | 'p' | 't';
  /** Flow id. */
  readonly id?: number;
  /** Flow binding point: "e" binds a flow end to the enclosing slice. */
  readonly bp?: 'e';
  readonly args?: Readonly<Record<string, unknown>>;
}

export interface ChromeTrace {
  readonly traceEvents: readonly TraceEvent[];
  readonly displayTimeUnit: 'ns' | 'ms';
  readonly otherData?: Readonly<Record<string, string>>;
}

const PHASES: ReadonlySet<string> = new Set(['X', 'B', 'E', 'i', 'I', 'M', 's', 't', 'f', 'C']);
const METADATA_NAMED = new Set(['process_name', 'thread_name']);
const METADATA_SORT = new Set(['process_sort_index', 'thread_sort_index']);

interface Span {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly where: string;
}

/**
 * Every way a document breaks the format that we check, as messages naming
 * the event ("traceEvents[12]") and the rule; empty when it is valid.
 * - a top-level object with a `traceEvents` array (and a valid displayTimeUnit if given);
 * - every event: string `name`, `ph` in the known set, numeric `ts` >= 0,
 *   integer `pid` and `tid`;
 * - `X` has `dur` >= 0; `B`/`E` are balanced per (pid, tid), an `E` closes the
 *   innermost open `B` (same name when it has one);
 * - slices (`X` and `B`/`E` pairs) on one track are properly nested: two
 *   either are disjoint or one contains the other;
 * - `M` events name a process or thread (`args.name`) or give a sort index;
 * - flow events: every id has exactly one `s` and one `f`, `s` not later than `f`;
 * - `i` events have a scope `s` of g, p or t.
 */
export function validateChromeTrace(doc: unknown): string[] {
  const errors: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ['(document): expected a JSON object'];
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.traceEvents)) return ['traceEvents: expected an array'];
  if (d.displayTimeUnit !== undefined && d.displayTimeUnit !== 'ns' && d.displayTimeUnit !== 'ms') errors.push('displayTimeUnit: expected "ns" or "ms"');

  const tracks = new Map<string, { readonly e: Record<string, unknown>; readonly where: string; readonly order: number }[]>();
  const flows = new Map<number | string, { s: number[]; f: number[]; where: string }>();
  d.traceEvents.forEach((x: unknown, k: number) => {
    const where = `traceEvents[${k}]`;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) {
      errors.push(`${where}: expected an object`);
      return;
    }
    const e = x as Record<string, unknown>;
    const bad = (what: string): void => void errors.push(`${where}: ${what}`);
    if (typeof e.name !== 'string') bad('name: expected a string');
    if (typeof e.ph !== 'string' || !PHASES.has(e.ph)) {
      bad(`ph: expected one of ${[...PHASES].join(' ')}`);
      return;
    }
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) bad('ts: expected a number >= 0');
    if (!Number.isInteger(e.pid)) bad('pid: expected an integer');
    if (!Number.isInteger(e.tid)) bad('tid: expected an integer');
    const args = typeof e.args === 'object' && e.args !== null ? (e.args as Record<string, unknown>) : null;
    switch (e.ph) {
      case 'X':
        if (typeof e.dur !== 'number' || !Number.isFinite(e.dur) || e.dur < 0) bad('dur: expected a number >= 0 on an X event');
        break;
      case 'M':
        if (typeof e.name === 'string' && METADATA_NAMED.has(e.name)) {
          if (typeof args?.name !== 'string') bad(`args.name: expected a string on the ${e.name} metadata event`);
        } else if (typeof e.name === 'string' && METADATA_SORT.has(e.name)) {
          if (!Number.isInteger(args?.sort_index)) bad(`args.sort_index: expected an integer on the ${e.name} metadata event`);
        } else {
          bad('name: expected a metadata event name (process_name, thread_name, process_sort_index, thread_sort_index)');
        }
        break;
      case 'i':
      case 'I':
        if (e.s !== 'g' && e.s !== 'p' && e.s !== 't') bad('s: expected an instant scope g, p or t');
        break;
      case 's':
      case 't':
      case 'f': {
        if (typeof e.id !== 'number' && typeof e.id !== 'string') {
          bad('id: expected a flow id');
          break;
        }
        const fl = flows.get(e.id) ?? { s: [], f: [], where };
        if (e.ph === 's') fl.s.push(typeof e.ts === 'number' ? e.ts : 0);
        if (e.ph === 'f') fl.f.push(typeof e.ts === 'number' ? e.ts : 0);
        flows.set(e.id, fl);
        break;
      }
    }
    if ((e.ph === 'X' || e.ph === 'B' || e.ph === 'E') && typeof e.ts === 'number' && Number.isInteger(e.pid) && Number.isInteger(e.tid)) {
      const key = `${String(e.pid)}/${String(e.tid)}`;
      const list = tracks.get(key) ?? [];
      list.push({ e, where, order: k });
      tracks.set(key, list);
    }
  });

  for (const [id, fl] of flows) {
    if (fl.s.length !== 1 || fl.f.length !== 1) {
      errors.push(`flow id ${String(id)} (first at ${fl.where}): expected one "s" and one "f", got ${fl.s.length} and ${fl.f.length}`);
    } else if ((fl.s[0] as number) > (fl.f[0] as number)) {
      errors.push(`flow id ${String(id)} (first at ${fl.where}): "f" is earlier than "s"`);
    }
  }

  for (const [track, list] of tracks) {
    // Order by time; at one time, ends before begins (a slice that ends where
    // the next begins), then the file order.
    const rank = (ph: unknown): number => (ph === 'E' ? 0 : 1);
    const sorted = [...list].sort((a, b) => (a.e.ts as number) - (b.e.ts as number) || rank(a.e.ph) - rank(b.e.ph) || a.order - b.order);
    const open: { name: string; start: number; where: string }[] = [];
    const spans: Span[] = [];
    for (const { e, where } of sorted) {
      const ts = e.ts as number;
      if (e.ph === 'B') open.push({ name: String(e.name), start: ts, where });
      else if (e.ph === 'E') {
        const top = open.pop();
        if (top === undefined) errors.push(`${where}: E on track ${track} with no open B`);
        else {
          if (typeof e.name === 'string' && e.name !== '' && e.name !== top.name) errors.push(`${where}: E "${e.name}" closes B "${top.name}" (${top.where}) on track ${track}: not properly nested`);
          spans.push({ name: top.name, start: top.start, end: ts, where: top.where });
        }
      } else if (typeof e.dur === 'number') {
        spans.push({ name: String(e.name), start: ts, end: ts + e.dur, where });
      }
    }
    for (const o of open) errors.push(`${o.where}: B "${o.name}" on track ${track} is never closed`);
    // Nesting of all slices of the track: disjoint or contained.
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    const stack: Span[] = [];
    for (const sp of spans) {
      while (stack.length > 0 && (stack[stack.length - 1] as Span).end <= sp.start) stack.pop();
      const top = stack[stack.length - 1];
      if (top !== undefined && sp.end > top.end) {
        errors.push(`${sp.where}: slice "${sp.name}" [${sp.start}, ${sp.end}] overlaps "${top.name}" [${top.start}, ${top.end}] (${top.where}) on track ${track} without nesting`);
      }
      stack.push(sp);
    }
  }
  return errors;
}
