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

/**
 * `frames`, for an event: frozen, and the same array for the same stack
 * while it is among the last few asked for. The scheduler derives a `send`
 * event per call and reply and a `task.start`/`task.end` per task, and a
 * split per event was 3–5 % of a checked schedule and as much garbage
 * (issue 19). A task's steps come back to the same stacks (a caller
 * resumes where it called), so a short list, compared with `===` (the same
 * string object first: a pointer compare), finds most; a Map keyed by the
 * stack would hash every new stack string, which costs what the split does.
 * Frozen, a checker's snapshot shares it too.
 */
export function eventFrames(stack: WireStack): readonly string[] {
  const keys = recentStacks;
  for (let i = 0; i < RECENT; i++) if (keys[i] === stack) return recentFrames[i] as readonly string[];
  const f = Object.freeze(frames(stack));
  keys[recentNext] = stack;
  recentFrames[recentNext] = f;
  recentNext = (recentNext + 1) % RECENT;
  return f;
}

const RECENT = 16;
const recentStacks: (string | null)[] = new Array<string | null>(RECENT).fill(null);
const recentFrames: (readonly string[] | null)[] = new Array<readonly string[] | null>(RECENT).fill(null);
let recentNext = 0;
