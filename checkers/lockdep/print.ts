import type { AssertBug, CircularBug, HeldAtExitBug, HeldLockFreedBug, LockdepBug, LockSide, MisuseBug, RecursiveBug, UnlockBug } from './bugs.ts';
import type { Edge } from './graph.ts';
import type { HeldLock } from '../held-locks.ts';
import { classKey } from '../../protocol/lock-classes.ts';
import type { LockMode } from '../../protocol/events.ts';
import type { TaskId } from '../../protocol/ids.ts';
import { KERNEL_RELEASE, REPORT_LEGEND, backtraceLines, classWithUsage, cpuLine, innermostFunction, kernelClassName, synthAddr, taskName } from '../kernel-report.ts';

/**
 * The report printers, one per lockdep print_* function
 * (kernel/locking/lockdep.c), kept apart from detection. The text follows
 * the kernel's splats line for line (test/fixtures/splats/ holds a real one
 * and test/report-shapes.test.ts compares the structure): class names as
 * the kernel spells them (`&dev->mutex`), usage and wait-type braces,
 * `comm/pid` task names. Lock addresses and pids are stable synthetic
 * values (checkers/kernel-report.ts); the lock instances they stand for are
 * listed after the splat in `iommu-lab:` lines.
 */

/** Frames of the lock machinery, skipped when naming where a task "is" (as checkers/sites.ts does). */
const MACHINERY = /^(locks?|lock-manager)[^:]*:/;

/** The innermost model frame ("app:take_two"), the `at:` of lockdep's print_lock(). */
export function frameOf(stack: readonly string[]): string {
  for (let i = stack.length - 1; i >= 0; i--) {
    const f = stack[i] as string;
    if (!MACHINERY.test(f)) return f;
  }
  return stack[stack.length - 1] ?? '?';
}

/** A stack trace innermost first, indented like lockdep's print_lock_trace(). */
function trace(stack: readonly string[], indent = '       '): string {
  if (stack.length === 0) return `${indent}(no stack)\n`;
  return backtraceLines(stack, indent);
}

const name = (key: string): string => `(${kernelClassName(key)})`;

/** print_lock(): address, class with its usage, and the function that took it. */
function printLock(id: string, key: string, kind: string, stack: readonly string[]): string {
  return `${synthAddr(id)} ${classWithUsage(key, kind)}, at: ${innermostFunction(stack)}\n`;
}

const printHeld = (h: HeldLock): string => printLock(h.lock.id, classKey(h.lock), h.lock.kind, h.stack);
const printSide = (s: LockSide): string => printLock(s.lock.id, s.key, s.lock.kind, s.stack);

/** lockdep_print_held_locks(). */
export function printHeldLocks(task: TaskId, held: readonly HeldLock[]): string {
  if (held.length === 0) return `no locks held by ${taskName(task)}.\n`;
  let s = `${held.length} lock${held.length > 1 ? 's' : ''} held by ${taskName(task)}:\n`;
  held.forEach((h, i) => (s += ` #${i}: ${printHeld(h)}`));
  return s;
}

/** dump_stack() after "stack backtrace:". */
function backtrace(task: TaskId, stack: readonly string[]): string {
  return `\nstack backtrace:\n${cpuLine(task)}\nCall Trace:\n <TASK>\n${backtraceLines(stack)} </TASK>\n`;
}

/** print_circular_bug_header() and friends: the title, the release line, the bars sized to the title. */
function banner(title: string): string {
  const bar = '='.repeat(title.length);
  return `${bar}\n${title}\n${KERNEL_RELEASE} Not tainted\n${'-'.repeat(bar.length)}\n`;
}

/** After the splat: which lock instance each synthetic address stands for. */
function legend(ids: Iterable<string>): string {
  const seen = [...new Set(ids)];
  if (seen.length === 0) return '';
  let s = `\n${REPORT_LEGEND} lock instances:\n`;
  for (const id of seen) s += `${REPORT_LEGEND}  ${synthAddr(id)} ${id}\n`;
  return s;
}

// ---- circular dependency ------------------------------------------------------------

const CPU1 = ' '.repeat(31);

function lockOp(key: string, mode: LockMode): string {
  return `${mode === 'write' ? 'lock' : 'rlock'}(${kernelClassName(key)});`;
}

/** print_circular_bug_entry(): "-> #n (class):" and the trace of the edge that reached it. */
function chainEntry(depth: number, key: string, e: Edge | null, current: readonly string[]): string {
  let s = `\n-> #${depth} ${classWithUsage(key)}:\n`;
  if (e === null) return s + trace(current);
  s += trace(e.trace.stack);
  if (e.trace.note !== null) s += `       ${e.trace.note}\n`;
  return s;
}

/**
 * print_circular_lock_scenario(), plus the cross-release variant for
 * cycles through a completion (the kernel printed "by crosslock" tables in
 * 4.14–4.15 when completions were tracked). Like the kernel's, the table
 * shows the two ends of the chain; "Chain exists of" names the middle.
 */
function scenario(b: CircularBug): string {
  const src = b.src.key;
  const tgt = b.tgt.key;
  const last = b.path[b.path.length - 1];
  const parent = last === undefined ? src : last.from;
  const isCompletion = (k: string): boolean => b.completions.has(k);
  let s = '';
  if (parent !== src) s += `Chain exists of:\n  ${kernelClassName(src)} --> ${kernelClassName(parent)} --> ${kernelClassName(tgt)}\n\n`;

  if (b.how === 'wait') {
    // CPU0 (this task) holds tgt and waits for src; CPU1 must take tgt before it can complete src.
    const first = b.path[0]?.to ?? tgt;
    s += ' Possible unsafe locking scenario by crosslock:\n\n';
    s += '       CPU0                    CPU1\n';
    s += '       ----                    ----\n';
    s += `  ${lockOp(tgt, b.tgt.mode)}\n`;
    if (first !== tgt) s += `${CPU1}lock(${kernelClassName(first)});\n`;
    s += `${CPU1}lock(${kernelClassName(tgt)});\n`;
    s += `  wait_for_completion(${kernelClassName(src)});\n`;
    s += `${CPU1}complete(${kernelClassName(src)});\n`;
  } else if (b.how === 'complete') {
    // CPU0 (a waiter) holds parent and waits for tgt; CPU1 (this task) takes src before it completes tgt.
    s += ' Possible unsafe locking scenario by crosslock:\n\n';
    s += '       CPU0                    CPU1\n';
    s += '       ----                    ----\n';
    s += `  lock(${kernelClassName(parent)});\n`;
    s += `${CPU1}${lockOp(src, b.src.mode)}\n`;
    s += `  wait_for_completion(${kernelClassName(tgt)});\n`;
    s += `${CPU1}complete(${kernelClassName(tgt)});\n`;
  } else {
    s += ' Possible unsafe locking scenario:\n\n';
    s += '       CPU0                    CPU1\n';
    s += '       ----                    ----\n';
    s += `  ${lockOp(tgt, b.tgt.mode)}\n`;
    if (isCompletion(parent)) {
      // CPU1 is the completer of `parent`: it needs tgt before it can complete.
      s += `${CPU1}lock(${kernelClassName(tgt)});\n`;
      s += `${CPU1}complete(${kernelClassName(parent)});\n`;
    } else {
      s += `${CPU1}lock(${kernelClassName(parent)});\n`;
      s += `${CPU1}lock(${kernelClassName(tgt)});\n`;
    }
    s += `  ${lockOp(src, b.src.mode)}\n`;
  }
  s += '\n *** DEADLOCK ***\n\n';
  return s;
}

export function printCircularBug(b: CircularBug): string {
  let s = '\n' + banner('WARNING: possible circular locking dependency detected');
  switch (b.how) {
    case 'acquire':
      s += `${taskName(b.task)} is trying to acquire lock:\n${printSide(b.src)}`;
      s += `\nbut task is already holding lock:\n${printSide(b.tgt)}`;
      s += '\nwhich lock already depends on the new lock.\n\n';
      break;
    case 'wait':
      s += `${taskName(b.task)} is trying to wait for completion:\n${printSide(b.src)}`;
      s += `\nbut task is already holding lock:\n${printSide(b.tgt)}`;
      s += '\nwhich lock already depends on the completion.\n\n';
      break;
    case 'complete':
      s += `${taskName(b.task)} is completing:\n${printSide(b.tgt)}`;
      s += `\nbut before that it took lock:\n${printSide(b.src)}`;
      s += '\nwhich completion already depends on the lock.\n\n';
      break;
  }
  s += '\nthe existing dependency chain (in reverse order) is:\n';
  for (let i = b.path.length - 1; i >= 0; i--) {
    const e = b.path[i] as Edge;
    s += chainEntry(i + 1, e.to, e, []);
  }
  s += chainEntry(0, b.src.key, null, b.src.stack);
  s += '\nother info that might help us debug this:\n\n';
  s += scenario(b);
  s += printHeldLocks(b.task, b.held);
  s += backtrace(b.task, b.stack);
  s += legend([b.src.lock.id, b.tgt.lock.id, ...b.held.map((h) => h.lock.id)]);
  return s;
}

// ---- the other splats ---------------------------------------------------------------

export function printRecursiveBug(b: RecursiveBug): string {
  let s = '\n' + banner('WARNING: possible recursive locking detected');
  s += `${taskName(b.task)} is trying to acquire lock:\n${printSide(b.next)}`;
  s += `\nbut task is already holding lock:\n${printHeld(b.prev)}`;
  s += '\nother info that might help us debug this:\n';
  s += ' Possible unsafe locking scenario:\n\n';
  s += '       CPU0\n';
  s += '       ----\n';
  s += `  ${lockOp(classKey(b.prev.lock), b.prev.mode)}\n`;
  s += `  ${lockOp(b.next.key, b.next.mode)}\n`;
  s += '\n *** DEADLOCK ***\n\n';
  s += ' May be due to missing lock nesting notation\n\n';
  s += printHeldLocks(b.task, b.held);
  s += backtrace(b.task, b.stack);
  s += legend([b.next.lock.id, b.prev.lock.id, ...b.held.map((h) => h.lock.id)]);
  return s;
}

export function printUnlockBug(b: UnlockBug): string {
  let s = '\n' + banner('WARNING: bad unlock balance detected!');
  s += `${taskName(b.task)} is trying to release lock ${name(classKey(b.lock))} at:\n${innermostFunction(b.stack)}\n`;
  s += b.holder === null
    ? 'but there are no more locks to release!\n'
    : `but the lock is held by ${taskName(b.holder)}, not by ${taskName(b.task)}!\n`;
  s += '\nother info that might help us debug this:\n';
  s += printHeldLocks(b.task, b.held);
  s += backtrace(b.task, b.stack);
  s += legend([b.lock.id, ...b.held.map((h) => h.lock.id)]);
  return s;
}

export function printMisuseBug(b: MisuseBug): string {
  let s = '------------[ cut here ]------------\n';
  s += `WARNING: at ${innermostFunction(b.stack)}: ${b.what}: ${synthAddr(b.lock.id)} ${name(classKey(b.lock))}\n`;
  s += printHeldLocks(b.task, b.held);
  s += backtrace(b.task, b.stack);
  s += '---[ end trace ]---\n';
  s += legend([b.lock.id, ...b.held.map((h) => h.lock.id)]);
  return s;
}

export function printHeldAtExitBug(b: HeldAtExitBug): string {
  let s: string;
  if (b.toUser) {
    s = '\n' + banner('WARNING: lock held when returning to user space!');
    s += `${taskName(b.task)} is leaving the kernel with locks still held!\n`;
  } else {
    s = '\n' + banner(`WARNING: ${taskName(b.task)} still has locks held!`);
  }
  s += printHeldLocks(b.task, b.held);
  s += backtrace(b.task, b.stack);
  s += legend(b.held.map((h) => h.lock.id));
  return s;
}

export function printHeldLockFreedBug(b: HeldLockFreedBug): string {
  let s = '\n' + banner('WARNING: held lock freed!');
  s += b.holder === b.task
    ? `${taskName(b.task)} is freeing memory ${synthAddr(b.obj)}, with a lock still held there!\n`
    : `${taskName(b.task)} is freeing memory ${synthAddr(b.obj)}, with a lock still held there by ${taskName(b.holder)}!\n`;
  s += printHeld(b.lock);
  s += printHeldLocks(b.holder, b.held);
  s += backtrace(b.task, b.stack);
  s += legend([b.obj, b.lock.lock.id, ...b.held.map((h) => h.lock.id)]);
  return s;
}

export function printAssertBug(b: AssertBug): string {
  const fn = b.expectHeld ? 'lockdep_assert_held' : 'lockdep_assert_not_held';
  let s = '------------[ cut here ]------------\n';
  s += `WARNING: at ${innermostFunction(b.stack)}: ${fn}(${kernelClassName(classKey(b.lock))})\n`;
  s += b.expectHeld
    ? `${b.task} does not hold ${b.lock.id} ${name(classKey(b.lock))}\n`
    : `${b.task} holds ${b.lock.id} ${name(classKey(b.lock))}\n`;
  s += printHeldLocks(b.task, b.held);
  s += backtrace(b.task, b.stack);
  s += '---[ end trace ]---\n';
  s += legend([b.lock.id, ...b.held.map((h) => h.lock.id)]);
  return s;
}

export function printLockdepBug(b: LockdepBug): string {
  switch (b.type) {
    case 'circular':
      return printCircularBug(b);
    case 'recursive':
      return printRecursiveBug(b);
    case 'unlock':
      return printUnlockBug(b);
    case 'misuse':
      return printMisuseBug(b);
    case 'held-at-exit':
      return printHeldAtExitBug(b);
    case 'held-lock-freed':
      return printHeldLockFreedBug(b);
    case 'assert':
      return printAssertBug(b);
  }
}

/** The dependency graph as Graphviz DOT (`report --format dot`); completions are drawn as boxes. */
export function dependencyDot(edges: Iterable<Edge>, completions: ReadonlySet<string>): string {
  const q = (s: string): string => JSON.stringify(s);
  const nodes = new Set<string>();
  let body = '';
  for (const e of edges) {
    nodes.add(e.from);
    nodes.add(e.to);
    // the label says what the splat's chain entry says of the edge: its types, and for a declared
    // (preloaded) or cross-release edge the same note line ("(declared order, <source>)")
    const types = [...e.types].sort().join(',');
    const label = e.trace.via === 'known' ? `${types}\n${e.trace.stack.join(' ')}\n${e.trace.note ?? ''}` : e.trace.note !== null ? `${types}\n${e.trace.note}` : types;
    body += `  ${q(e.from)} -> ${q(e.to)} [label=${q(label)}${e.trace.via === 'known' ? ', style=dashed' : ''}];\n`;
  }
  let s = 'digraph lockdep {\n  rankdir=LR;\n';
  for (const n of [...nodes].sort()) s += `  ${q(n)}${completions.has(n) ? ' [shape=box]' : ''};\n`;
  return s + body + '}\n';
}
