#!/usr/bin/env node
// The `iommu-lab` command. Runs the compiled CLI when dist/ is there (npm ci
// builds it through the `prepare` script); otherwise runs the TypeScript
// sources through tsx, for a checkout that has not been built.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli', 'bin.js');
if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'cli', 'bin.ts')).href);
}
