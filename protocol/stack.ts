/**
 * A task's call stack as it travels: frames ("actor:op"), outermost first,
 * joined by newlines. Pushing a frame is a string concatenation and popping
 * one a slice; reports and events split it into frames when they need them.
 */
export type WireStack = string & { readonly __brand: 'WireStack' };

export const EMPTY_STACK = '' as WireStack;

export function pushFrame(stack: WireStack, frame: string): WireStack {
  return (stack === '' ? frame : `${stack}\n${frame}`) as WireStack;
}

export function popFrame(stack: WireStack): WireStack {
  const i = stack.lastIndexOf('\n');
  return (i < 0 ? '' : stack.slice(0, i)) as WireStack;
}

export function frames(stack: WireStack): string[] {
  return stack === '' ? [] : stack.split('\n');
}
