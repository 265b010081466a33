/** Actors whose frames a report skips when it names where a task "is": the lock machinery itself. */
const MACHINERY = /^(locks?|lock-manager)[^:]*:/;

/** The innermost frame that is model code rather than lock machinery, as "actor.handler". */
export function siteOf(stack: readonly string[]): string {
  for (let i = stack.length - 1; i >= 0; i--) {
    const f = stack[i] as string;
    if (!MACHINERY.test(f)) return f.replace(':', '.');
  }
  return stack.length > 0 ? (stack[stack.length - 1] as string).replace(':', '.') : '?';
}

/** Prints a call stack innermost first, the way the kernel prints a backtrace. */
export function printStack(stack: readonly string[], indent = '  '): string {
  if (stack.length === 0) return `${indent}(empty)\n`;
  let s = '';
  for (let i = stack.length - 1; i >= 0; i--) s += `${indent}${stack[i]}\n`;
  return s;
}
