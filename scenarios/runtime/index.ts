import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { abbaProgram } from './abba.ts';

/**
 * The runtime's own ABBA program as a scenario: opposite lock orders
 * deadlock in some schedules and are predicted by lockdep in every one that
 * takes both orders; the same order is clean. It is no kernel model, so the
 * document gives its programs as the runtime runs them (`programs`): `show`
 * prints it, `run` takes it back.
 */
export const RUNTIME_ABBA_DOCUMENT = {
  name: 'runtime-abba',
  title: 'two tasks take mutexes A and B with a preemption point between them',
  topology: {},
  tasks: [],
  variants: { order: ['abba', 'ordered'] },
  programs: [
    { when: { order: 'abba' }, program: abbaProgram('abba') },
    { when: { order: 'ordered' }, program: abbaProgram('ordered') },
  ],
  expect: [
    { when: { order: 'abba' }, findings: ['deadlock', 'lock-order-inversion'] },
    { when: { order: 'ordered' }, findings: [] },
  ],
};

export const runtimeAbba: Scenario = scenarioFromDocument(RUNTIME_ABBA_DOCUMENT, 'scenarios/runtime/index.ts');
