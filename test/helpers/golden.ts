import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

/** Compares a report with test/golden/<name>; UPDATE_GOLDEN=1 rewrites the file. */
export function golden(name: string, text: string): void {
  const path = new URL(`../golden/${name}`, import.meta.url);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(path, text);
  expect(existsSync(path), `golden file test/golden/${name} is missing (run with UPDATE_GOLDEN=1)`).toBe(true);
  expect(text).toBe(readFileSync(path, 'utf8'));
}
