// Issue 5, acceptance b: report.html, as `emotrain evaluate` writes it, opens in a real browser
// (Debian's headless Chromium, driven by playwright-core) with no console errors, no request
// leaving the page (everything is inlined), and every image loaded; a screenshot is kept in
// test-results/ for a person to look at.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { chromium, type Browser } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMOTRAIN, Program, ROOT, cleanUp, tempDir } from './helpers/processes.js';
import { fixtureSplit, writeFixtureRun } from './helpers/fixture-run.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(ROOT, 'test-results', 'report-html.png');

let browser: Browser | undefined;
let reportDir: string;

beforeAll(async () => {
  // Fail, never skip: without a browser this acceptance test has not been met.
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  }
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const runDir = await writeFixtureRun(tempDir('browser-runs'), 'fixture');
  const evaluate = new Program(EMOTRAIN, ['evaluate', runDir, '--examples', '3']);
  const { code } = await evaluate.exit(120_000);
  expect(code, evaluate.output).toBe(0);
  reportDir = path.join(runDir, 'report');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  cleanUp();
});

describe('report.html in a browser', () => {
  it('loads with no console errors, no outside requests, and every image decoded', async () => {
    const page = await browser!.newPage({ viewport: { width: 1300, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`failed request: ${request.url().slice(0, 100)}`));
    page.on('request', (request) => requests.push(request.url()));

    const url = `file://${path.join(reportDir, 'report.html')}`;
    await page.goto(url, { waitUntil: 'load' });
    const images = await page.$$eval('img', (elements) =>
      elements.map((img) => ({ alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, src: img.src.slice(0, 22) })),
    );
    expect(problems).toEqual([]);
    // The page itself, then data: URLs only.
    expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);

    // 2 training curves, then per split 2 heatmaps and 2 prediction grids.
    expect(images).toHaveLength(2 + 2 * 4);
    for (const image of images) {
      expect(image.src, image.alt).toBe('data:image/png;base64,');
      expect(image.complete && image.naturalWidth > 0 && image.naturalHeight > 0, `${image.alt} did not load`).toBe(true);
    }
    const text = await page.locator('body').innerText();
    expect(text).toContain('precision    recall  f1-score   support');
    const { val } = await fixtureSplit();
    expect(text).toMatch(new RegExp(`val split: accuracy \\d\\.\\d{4}, loss \\d\\.\\d{4} \\(${val} images\\)`));
    expect(text).toMatch(/test split: accuracy/);
    expect(text).toContain('"runId": "fixture"');

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const screenshot = PNG.sync.read(readFileSync(SCREENSHOT));
    expect(screenshot.width).toBe(1300);
    expect(screenshot.height).toBeGreaterThan(2000);
    await page.close();
  });

  it('offers the confusion matrices as CSV downloads from the page itself', async () => {
    const page = await browser!.newPage();
    await page.goto(`file://${path.join(reportDir, 'report.html')}`, { waitUntil: 'load' });
    const links = await page.$$eval('a[download]', (elements) => elements.map((a) => ({ name: a.getAttribute('download'), href: a.getAttribute('href')! })));
    expect(links.map((l) => l.name)).toEqual(['val-confusion-counts.csv', 'val-confusion-normalized.csv', 'test-confusion-counts.csv', 'test-confusion-normalized.csv']);
    const counts = Buffer.from(links[0]!.href.replace('data:text/csv;base64,', ''), 'base64').toString('utf8');
    expect(counts).toBe(readFileSync(path.join(reportDir, 'val-confusion-counts.csv'), 'utf8'));
    await page.close();
  });
});
