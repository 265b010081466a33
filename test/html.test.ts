import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../api/index.ts';
import { traceOfRecording } from '../api/report.ts';
import { renderHtml } from '../report/index.ts';
import { cli } from './helpers/cli.ts';

/**
 * `report --format html` and `compare --html`, opened in a real headless
 * Chromium (Debian's, which .ci/run installs; playwright-core drives it by
 * its path and downloads nothing): the page loads from the file with no
 * console error, mermaid drew the sequence and the lock graph is an SVG
 * with something in it. Screenshots are saved in the test's temp dir.
 */
const CHROMIUM = '/usr/bin/chromium';
const dir = mkdtempSync(path.join(tmpdir(), 'iommu-lab-html-'));
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install -y chromium)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

interface Opened {
  readonly errors: readonly string[];
  readonly rendered: string | undefined;
  /** Section id → the size of each SVG in it. */
  readonly svgs: readonly { section: string; width: number; height: number; children: number }[];
  readonly shot: string;
}

async function open(file: string, name: string): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  // no network: a request for anything but the file itself is a defect of the page
  page.on('request', (r) => {
    if (!r.url().startsWith('file://') && !r.url().startsWith('data:')) errors.push(`network request: ${r.url()}`);
  });
  await page.goto(`file://${file}`);
  // (the page's own code, as strings: this project's TypeScript has no DOM types)
  // A page with diagrams says when mermaid has drawn them; one without (compare's table) has nothing to wait for:
  // waiting for it anyway sat out the whole timeout, 90 of the suite's seconds.
  await page.waitForFunction('document.querySelector("pre.mermaid") === null || document.body.dataset.rendered !== undefined', null, { timeout: 90_000 }).catch(() => {});
  const rendered = (await page.evaluate('document.body.dataset.rendered')) as string | undefined;
  const svgs = (await page.evaluate(`[...document.querySelectorAll('section svg')].map((s) => {
    const b = s.getBBox();
    return { section: s.closest('section')?.id ?? '', width: b.width, height: b.height, children: s.querySelectorAll('*').length };
  })`)) as Opened['svgs'];
  const shot = path.join(dir, `${name}.png`);
  await page.screenshot({ path: shot, timeout: 120_000 });
  await page.close();
  return { errors, rendered, svgs, shot };
}

const drawn = (o: Opened, section: string): boolean => o.svgs.some((s) => s.section === section && s.width > 50 && s.height > 50 && s.children > 5);

describe('the HTML report in a headless Chromium', () => {
  it('compare --html: the table page links each finding\'s page; the deadlock page draws its sequence and the red ABBA cycle', async () => {
    const out = path.join(dir, 'out');
    const table = path.join(dir, 'compare.html');
    const r = await cli('compare', 'runtime-abba', '--schedules', '20', '--out', out, '--html', table);
    expect(r.code).toBe(0);
    const html = readFileSync(table, 'utf8');
    const links = [...html.matchAll(/<a href="([^"]+)"[^>]*>([a-z-]+)<\/a>/g)].map((m) => [m[2], m[1]] as const);
    expect(links.map(([k]) => k).sort()).toEqual(['deadlock', 'lock-order-inversion']);
    const tablePage = await open(table, 'compare');
    expect(tablePage.errors).toEqual([]);

    const deadlock = path.resolve(dir, links.find(([k]) => k === 'deadlock')?.[1] ?? 'missing');
    const page = readFileSync(deadlock, 'utf8');
    // one self-contained file: no external script, stylesheet or image
    expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)="(https?:)?\/\//);
    // the hung-task shape (kernel/hung_task.c): one block per task, then the locks held
    expect(page).toMatch(/INFO: task \S+:\d+ blocked for more than \d+ seconds\./);
    expect(page).toContain('Showing all locks held in the system:');
    expect(page).toMatch(/EN<\/code><\/td><td>the held lock was taken exclusively/);
    const o = await open(deadlock, 'deadlock');
    expect(o.errors).toEqual([]);
    expect(o.rendered).toBe('yes');
    expect(drawn(o, 'sequence')).toBe(true);
    expect(drawn(o, 'lock-graph')).toBe(true);
    expect(statSync(o.shot).size).toBeGreaterThan(10_000);
    // the cycle A -> B -> A is drawn red
    expect(page).toMatch(/<g id="edge\d+" class="edge">\s*<title>A&#45;&gt;B<\/title>\s*<path fill="none" stroke="red"/);
  }, 600_000);

  it('a use-after-free page: the object\'s allocation, free and use after free, and the page renders', async () => {
    const r = await run('seed-004-domain-alloc-vs-hot-remove', { variants: { 'domain-alloc': 'v4-escaping-dev' }, schedules: 300, seed: 1 });
    const uaf = r.findings.find((f) => f.kind === 'use-after-free');
    expect(uaf).toBeDefined();
    const doc = await traceOfRecording(uaf!.recording);
    const html = await renderHtml(doc);
    const timeline = /<section class="timeline">(.*?)<\/section>/s.exec(html)?.[1] ?? '';
    expect(timeline).toMatch(/<td>alloc \(/);
    expect(timeline).toMatch(/<tr class="free">/);
    expect(timeline).toMatch(/after free<\/strong>/);
    const file = path.join(dir, 'uaf.html');
    writeFileSync(file, html);
    const o = await open(file, 'use-after-free');
    expect(o.errors).toEqual([]);
    expect(drawn(o, 'sequence')).toBe(true);
  }, 600_000);

  it('a data-race page shows the two accesses side by side', async () => {
    const r = await run('seed-003-dev-iommu-bits', { variants: { 'dev-iommu-bits': 'shared-word' }, schedules: 50, seed: 1 });
    const race = r.findings.find((f) => f.kind === 'data-race');
    expect(race).toBeDefined();
    const html = await renderHtml(await traceOfRecording(race!.recording));
    const two = /<section class="race">(.*?)<\/section>/s.exec(html)?.[1] ?? '';
    expect([...two.matchAll(/<td><p><strong>(read|write)[^<]* by task \d+ on cpu \d+<\/strong>/g)]).toHaveLength(2);
  }, 300_000);
});
