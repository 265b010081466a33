/**
 * Where things happen, as reports and signatures name it. Frames are
 * "actor:op" (runtime/context.ts); an actor id may itself contain ':'
 * ("unit:vtd0"), an op does not, so a frame splits at its last ':'. Frames of
 * the lock-manager actors ("locks…") are machinery: a lock event is named
 * after the code that locked, not after the lock manager.
 */

const MACHINERY = /^(locks?|lock-manager)[^:]*:/;

export interface Where {
  readonly actor: string;
  readonly handler: string;
  /** "actor.handler", as titles print it. */
  readonly site: string;
}

/** The innermost frame that is model code rather than lock machinery. */
export function whereOf(stack: readonly string[]): Where {
  let frame: string | undefined;
  for (let i = stack.length - 1; i >= 0 && frame === undefined; i--) {
    const f = stack[i] as string;
    if (!MACHINERY.test(f)) frame = f;
  }
  frame ??= stack[stack.length - 1];
  if (frame === undefined) return { actor: '?', handler: '?', site: '?' };
  const i = frame.lastIndexOf(':');
  const actor = i < 0 ? frame : frame.slice(0, i);
  const handler = i < 0 ? '?' : frame.slice(i + 1);
  return { actor, handler, site: `${actor}.${handler}` };
}

/** `whereOf(stack).site`. */
export function siteOf(stack: readonly string[]): string {
  return whereOf(stack).site;
}

/** The stack a report prints: lock-machinery frames on top are dropped. */
export function modelStack(stack: readonly string[]): readonly string[] {
  let end = stack.length;
  while (end > 0 && MACHINERY.test(stack[end - 1] as string)) end--;
  return end === stack.length ? stack : stack.slice(0, end);
}

/** Sorted copy, by code unit order (stable across hosts and locales). */
export function sortedSites(sites: readonly string[]): string[] {
  return [...sites].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Prints a call stack innermost first, the way the kernel prints a backtrace. */
export function printStack(stack: readonly string[], indent = '  '): string {
  if (stack.length === 0) return `${indent}(empty)\n`;
  let s = '';
  for (let i = stack.length - 1; i >= 0; i--) s += `${indent}${stack[i]}\n`;
  return s;
}
