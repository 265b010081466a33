import type { Scenario } from '../scenario.ts';
import { abbaProgram } from './abba.ts';
import type { AbbaOrder } from './abba.ts';

/**
 * The runtime's own ABBA program as a scenario: opposite lock orders
 * deadlock in some schedules and are predicted by lockdep in every one that
 * takes both orders; the same order is clean.
 */
export const runtimeAbba: Scenario = {
  name: 'runtime-abba',
  title: 'two tasks take mutexes A and B with a preemption point between them',
  variants: { order: ['abba', 'ordered'] },
  program: (v) => abbaProgram((v.order ?? 'abba') as AbbaOrder),
  expect: [
    { when: { order: 'abba' }, findings: ['deadlock', 'lock-order-inversion'] },
    { when: { order: 'ordered' }, findings: [] },
  ],
};
