import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * The package as a user gets it: `npm pack`, then `npm install` of the
 * tarball into a fresh project. Shared by every test that drives the
 * installed package (the packaging test, the CLI-through-the-installed-
 * command tests): one tarball per source state, cached under the temp dir
 * and keyed by the sources' content, so test files running in parallel
 * pack once.
 */

export const REPO = path.resolve(import.meta.dirname, '..', '..');

/** What `files` ships and `tsconfig.build.json` compiles (the key of the cached tarball). */
const SOURCE_DIRS = ['api', 'actors', 'protocol', 'hardware', 'scenarios', 'runtime', 'checkers', 'cli', 'report', 'bench', 'fuzz', 'stress', 'bin', 'docs'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md'];

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
}

function sourceKey(): string {
  const h = createHash('sha256');
  const files: string[] = SOURCE_FILES.map((f) => path.join(REPO, f));
  for (const d of SOURCE_DIRS) if (existsSync(path.join(REPO, d))) walk(path.join(REPO, d), files);
  for (const f of files) {
    h.update(path.relative(REPO, f));
    h.update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

function sh(cmd: string, args: readonly string[], cwd: string, timeout = 300_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

let packed: string | undefined;

/**
 * The tarball of the package as `npm pack` makes it from this checkout.
 * Built in a staging copy (compiled there with tsconfig.build.json), so the
 * checkout's own dist/ is never touched while other tests run.
 */
export function packTarball(): string {
  if (packed !== undefined) return packed;
  const cache = path.join(tmpdir(), `iommu-lab-pack-${sourceKey()}`);
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };
  const tgz = path.join(cache, `${pkg.name}-${pkg.version}.tgz`);
  if (!existsSync(tgz)) {
    const stage = mkdtempSync(path.join(tmpdir(), 'iommu-lab-stage-'));
    for (const f of [...SOURCE_FILES, ...SOURCE_DIRS]) {
      if (existsSync(path.join(REPO, f))) cpSync(path.join(REPO, f), path.join(stage, f), { recursive: true });
    }
    // the build is the package's own `prepare`; compile here with the checkout's compiler
    symlinkSync(path.join(REPO, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
    sh(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], stage);
    const dest = mkdtempSync(path.join(tmpdir(), 'iommu-lab-tgz-'));
    // --ignore-scripts: `prepare` would rebuild what was just built
    sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dest], stage);
    mkdirSync(cache, { recursive: true });
    // a parallel test file may have packed the same sources meanwhile: the rename is atomic either way
    renameSync(path.join(dest, path.basename(tgz)), tgz);
    rmSync(stage, { recursive: true, force: true });
    rmSync(dest, { recursive: true, force: true });
  }
  packed = tgz;
  return tgz;
}

/** A temporary project with the packed package installed. */
export interface Installed {
  readonly dir: string;
  /** The installed package's folder (node_modules/iommu-lab). */
  readonly pkgDir: string;
  /** Runs the installed command (`npx iommu-lab …`) in the project. */
  cli(args: readonly string[], opts?: { timeout?: number; input?: string }): SpawnSyncReturns<string>;
}

/**
 * Installs the tarball into a new project under the temp dir with
 * `npm install --prefer-offline` (the npm cache is warm: no network is
 * needed). `withDevTools` links the checkout's vitest and typescript into
 * the project, for tests that type-check or run vitest there.
 */
export function installPacked(opts: { withDevTools?: boolean } = {}): Installed {
  const tgz = packTarball();
  const dir = mkdtempSync(path.join(tmpdir(), 'iommu-lab-user-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'iommu-lab-user', version: '0.0.0', private: true, type: 'module' }, null, 2));
  sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--legacy-peer-deps', tgz], dir);
  if (opts.withDevTools === true) {
    // the same vitest instance must load the test file and iommu-lab/vitest: link the checkout's
    for (const m of ['vitest', 'typescript', '@types/node']) {
      const target = path.join(dir, 'node_modules', m);
      mkdirSync(path.dirname(target), { recursive: true });
      if (!existsSync(target)) symlinkSync(path.join(REPO, 'node_modules', m), target, 'dir');
    }
  }
  const pkgDir = path.join(dir, 'node_modules', 'iommu-lab');
  if (!statSync(pkgDir).isDirectory()) throw new Error('the tarball did not install iommu-lab');
  return {
    dir,
    pkgDir,
    cli: (args, o = {}) => spawnSync('npx', ['--no-install', 'iommu-lab', ...args], {
      cwd: dir, encoding: 'utf8', timeout: o.timeout ?? 120_000, ...(o.input !== undefined ? { input: o.input } : {}),
      env: { ...process.env, npm_config_update_notifier: 'false' },
    }),
  };
}
