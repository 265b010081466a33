import { readFileSync } from 'node:fs';

/**
 * The structure of a kernel splat: each line's kind, in order. Values
 * (addresses, pids, names, offsets, line numbers) do not matter; which
 * lines there are and in which order does. Runs of one kind (the frames of
 * a stack, the `at:` lines the kernel repeats for inlined callers, the
 * entries of a held-lock list) count as one.
 *
 * Kinds a kernel prints but the model has nothing for are listed in
 * NOT_MODELLED and dropped from both sides; the model's own `iommu-lab:`
 * lines after a splat and CONFIG_KCSAN_VERBOSE's held locks are the only
 * additions, and are dropped too (MODEL_ADDITIONS). Everything else must
 * match line kind by line kind.
 */

const KINDS: readonly (readonly [string, RegExp])[] = [
  ['legend', /^iommu-lab:/],
  ['rule', /^=+$/],
  ['bar', /^-+$/],
  ['cut-here', /^-+\[ cut here \]-+$/],
  ['end-trace', /^---\[ end trace [0-9a-f]+ \]---$/],
  ['lockdep-circular', /^WARNING: possible circular locking dependency detected$/],
  ['lockdep-recursive', /^WARNING: possible recursive locking detected$/],
  ['release', /^\S.* #\d+ (Not tainted|Tainted: .*)$/],
  ['release', /^ +(Not tainted|Tainted:) /],
  ['trying', /^\S+\/\d+ is trying to acquire lock:$/],
  ['lock-line', /^[0-9a-f]{16} \(.+\)(\{[^}]*\}-\{\d:\d\})?, at: \S/],
  ['already', /^but task is already holding lock:$/],
  ['depends', /^which lock already depends on the new lock\.$/],
  ['chain-head', /^the existing dependency chain \(in reverse order\) is:$/],
  ['chain-entry', /^-> #\d+ \(.+\)(\{[^}]*\}-\{\d:\d\})?:$/],
  ['other-info', /^other info that might help us debug this:$/],
  ['chain-exists', /^Chain exists of:$/],
  ['chain-list', /^ {2}\S.* --> .+$/],
  ['scenario', /^ Possible unsafe locking scenario:$/],
  ['cpu-columns', /^ +CPU0 +CPU1$/],
  ['cpu-bars', /^ +---- +----$/],
  ['scenario-op', /^ +r?lock\(.+\);$/],
  ['deadlock', /^ \*\*\* DEADLOCK \*\*\*$/],
  ['held-head', /^(\d+ locks? held by|no locks held by) \S+\/\d+[:.]$/],
  ['held', /^ #\d+: [0-9a-f]{16} \(.+\)(\{[^}]*\}-\{\d:\d\})?, at: \S/],
  ['stack-backtrace', /^stack backtrace:$/],
  ['cpu-line', /^CPU: \d+ (UID: \d+ )?PID: \d+ Comm: \S+ (Not tainted|Tainted:) /],
  ['hardware', /^Hardware name: /],
  ['workqueue', /^Workqueue: /],
  ['call-trace', /^Call Trace:$/],
  ['task-marker', /^ <\/?TASK>$/],
  ['registers', /^(RIP|RSP|RAX|RDX|RBP|R10|R13|Code|FS|CS|CR2|DR0|DR3): /],
  ['modules', /^Modules linked in:/],
  ['kasan-title', /^BUG: KASAN: [a-z-]+ in \S+/],
  ['kasan-access', /^(Read|Write) of size \d+ at addr [0-9a-f]+ by task \S+\/\d+$/],
  ['kasan-free', /^Free of addr [0-9a-f]+ by task \S+\/\d+$/],
  ['allocated', /^Allocated by task \d+:$/],
  ['freed', /^Freed by task \d+:$/],
  ['aux-stack', /^Last potentially related work creation:$/],
  ['aux-stack-2', /^Second to last potentially related work creation:$/],
  ['object', /^The buggy address belongs to the object at [0-9a-f]+$/],
  ['cache', /^ which belongs to the cache \S+ of size \d+$/],
  ['located', /^The buggy address is located \d+ bytes (inside of|to the right of|to the left of)$/],
  ['region', /^ (freed )?\d+-byte region \[[0-9a-f]+, [0-9a-f]+\)$/],
  ['page', /^(The buggy address belongs to the physical page:|page:|flags: |page_type: |raw: |page dumped because|page_owner|page last |Memory state around the buggy address:|[ >][0-9a-f]{16}: |\s+\^$)/],
  ['kcsan-title', /^BUG: KCSAN: data-race in \S+ \/ \S+$/],
  ['kcsan-access', /^(read|write|read-write)( \(marked\))? to 0x[0-9a-f]+ of \d+ bytes by (task \d+|interrupt) on cpu \d+:$/],
  ['value-changed', /^value changed: 0x[0-9a-f]+ -> 0x[0-9a-f]+$/],
  ['reported-by', /^Reported by Kernel Concurrency Sanitizer on:$/],
  ['hung-title', /^INFO: task \S+:\d+ blocked for more than \d+ seconds\.$/],
  ['hung-echo', /^"echo 0 > \/proc\/sys\/kernel\/hung_task_timeout_secs" disables this message\.$/],
  ['task-state', /^task:\S+ +state:D /],
  ['all-locks', /^Showing all locks held in the system:$/],
  ['warning-at', /^WARNING: CPU: \d+ PID: \d+ at \S+/],
  ['blank', /^$/],
  ['frame', /^\s+\S/],
];

/** Kinds the kernel prints that the model has nothing for (no hardware, registers, pages, workqueues, second aux stack). */
export const NOT_MODELLED: ReadonlySet<string> = new Set(['hardware', 'workqueue', 'registers', 'page', 'aux-stack-2', 'task-marker']);

/** The model's additions: the legend after a splat. */
export const MODEL_ADDITIONS: ReadonlySet<string> = new Set(['legend']);

/** Lines the kernel prints only in some cases: "Chain exists of:" when a cycle has more than two classes. */
export const CONDITIONAL: ReadonlySet<string> = new Set(['chain-exists', 'chain-list']);

/** KASAN prints the aux stacks only when call_rcu()/queue_work() recorded one for the object. */
export const KASAN_AUX: ReadonlySet<string> = new Set(['aux-stack', 'aux-stack-2']);

/** Section headers whose frames go with them when they are dropped. */
const SECTIONS: ReadonlySet<string> = new Set(['aux-stack', 'aux-stack-2']);

/** CONFIG_KCSAN_VERBOSE: the held locks after each access (syzbot's reports are not verbose). */
export const KCSAN_VERBOSE: ReadonlySet<string> = new Set(['held-head', 'held']);

export function lineKind(line: string): string {
  for (const [kind, re] of KINDS) if (re.test(line)) return kind;
  return 'text';
}

/** Collapses a sequence repeated back to back (`a b a b` → `a b`), shortest first, until none is left. */
function collapseRepeats(xs: readonly string[]): string[] {
  let cur = [...xs];
  for (let changed = true; changed;) {
    changed = false;
    for (let n = 1; n <= 8 && !changed; n++) {
      for (let i = 0; i + 2 * n <= cur.length; i++) {
        if (cur.slice(i, i + n).join('\u0000') === cur.slice(i + n, i + 2 * n).join('\u0000')) {
          cur = [...cur.slice(0, i + n), ...cur.slice(i + 2 * n)];
          changed = true;
          break;
        }
      }
    }
  }
  return cur;
}

/**
 * The kinds of a splat's lines: header comments dropped, `drop` kinds removed
 * (with the frames under a dropped section header), then repeats collapsed:
 * the frames of one stack, the entries of a chain or a lock list, the
 * blocks of several hung tasks each count as one.
 */
export function splatShape(text: string, drop: ReadonlySet<string> = new Set([...NOT_MODELLED, ...MODEL_ADDITIONS])): string[] {
  const kinds: string[] = [];
  let underDropped = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('# ')) continue;
    const k = lineKind(line.replace(/\s+$/, ''));
    if (drop.has(k)) {
      underDropped = SECTIONS.has(k) || (underDropped && k !== 'blank');
      continue;
    }
    if (underDropped && k === 'frame') continue;
    underDropped = false;
    kinds.push(k);
  }
  // a blank line before a rule only separated what was dropped (the page dump) from it
  const runs = collapseRepeats(kinds);
  const out = collapseRepeats(runs.filter((k, i) => !(k === 'blank' && runs[i + 1] === 'rule')));
  // blank lines at either end are not structure
  while (out[0] === 'blank') out.shift();
  while (out[out.length - 1] === 'blank') out.pop();
  return out;
}

export function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/splats/${name}`, import.meta.url), 'utf8');
}

/** The part of a report before its legend: the splat itself. */
export function splatOf(report: string): string {
  return report.split('\n').filter((l) => !l.startsWith('iommu-lab:')).join('\n');
}
