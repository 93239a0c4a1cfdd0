// Issue 10, acceptance b: the page of `emotrain serve` in a real browser (Debian's headless
// Chromium, driven by playwright-core). A person uploads a photo and sees it annotated with a
// table of its faces; with Chromium's fake camera playing a video made here from the astronaut
// photo, they take a photo with the camera (getUserMedia) and see the same. No console errors.
// Screenshots are kept in test-results/ for a person to look at.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { writeFixtureRun } from './helpers/fixture-run.js';
import { ASTRONAUT, astronautPixels, y4mVideo } from './helpers/photos.js';
import { EMOTRAIN, Program, ROOT, cleanUp, tempDir } from './helpers/processes.js';

const CHROMIUM = '/usr/bin/chromium';
const RESULTS = path.join(ROOT, 'test-results');
const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let url: string;
const browsers: Browser[] = [];

beforeAll(async () => {
  // Fail, never skip: without a browser this acceptance test has not been met.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const runDir = await writeFixtureRun(tempDir('browser-serve-runs'), 'page', { checkpoints: ['best'] });
  const server = new Program(EMOTRAIN, ['serve', '--model', runDir, '--port', '0']);
  url = (await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1]!;
  mkdirSync(RESULTS, { recursive: true });
});

afterAll(async () => {
  for (const browser of browsers) await browser.close();
  cleanUp();
});

async function openPage(extraArgs: string[] = []): Promise<{ page: Page; problems: string[] }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BROWSER_ARGS, ...extraArgs] });
  browsers.push(browser);
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`failed request: ${request.url().slice(0, 100)}`));
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems };
}

/** The annotated result and the faces table, once the page shows them. */
async function shownResult(page: Page): Promise<{ rows: string[][]; image: { naturalWidth: number; naturalHeight: number }; status: string }> {
  await page.locator('#faces tbody tr').first().waitFor({ timeout: 60_000 });
  // Strings run in the page: this project's TypeScript has no DOM types.
  await page.waitForFunction("document.getElementById('result').complete && document.getElementById('result').naturalWidth > 0");
  const rows = (await page.evaluate("Array.from(document.querySelectorAll('#faces tbody tr'), (tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent))")) as string[][];
  const image = (await page.evaluate("({ naturalWidth: document.getElementById('result').naturalWidth, naturalHeight: document.getElementById('result').naturalHeight })")) as {
    naturalWidth: number;
    naturalHeight: number;
  };
  return { rows, image, status: (await page.locator('#status').textContent()) ?? '' };
}

function expectFaceRow(row: string[]): void {
  // #, emotion, confidence, box, then the seven probabilities.
  expect(row).toHaveLength(4 + EMOTION_CLASSES.length);
  expect(row[0]).toBe('1');
  expect(EMOTION_CLASSES).toContain(row[1]);
  expect(row[2]).toMatch(/^\d+\.\d%$/);
  expect(row[3]).toMatch(/^\d+, \d+, \d+ × \d+$/);
  for (const cell of row.slice(4)) expect(cell).toMatch(/^\d+\.\d%$/);
}

describe('the page of emotrain serve', () => {
  it('shows an uploaded photo annotated, with a table of its faces', async () => {
    const { page, problems } = await openPage();
    await page.setInputFiles('#photo', ASTRONAUT);
    const { rows, image, status } = await shownResult(page);
    expect(rows).toHaveLength(1);
    expectFaceRow(rows[0]!);
    expect(image).toEqual({ naturalWidth: 512, naturalHeight: 512 });
    expect(status).toBe('1 face in astronaut.png (512 × 512).');
    await page.screenshot({ path: path.join(RESULTS, 'serve-upload.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it("takes a photo with the camera (Chromium's fake camera playing the astronaut) and shows it annotated", async () => {
    const video = path.join(tempDir('fake-camera'), 'astronaut.y4m');
    writeFileSync(video, y4mVideo(astronautPixels()));
    const { page, problems } = await openPage(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`]);
    await page.click('#camera');
    await page.locator('#shoot').waitFor({ state: 'visible', timeout: 30_000 });
    await page.waitForFunction("document.getElementById('preview').videoWidth > 0");
    await page.click('#shoot');
    const { rows, image, status } = await shownResult(page);
    expect(rows).toHaveLength(1);
    expectFaceRow(rows[0]!);
    expect(image).toEqual({ naturalWidth: 512, naturalHeight: 512 });
    expect(status).toBe('1 face in camera.jpg (512 × 512).');
    await page.screenshot({ path: path.join(RESULTS, 'serve-camera.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('says what is wrong with a file that is not a photo, on the page and not as a console error', async () => {
    const { page, problems } = await openPage();
    const notes = path.join(tempDir('not-a-photo'), 'notes.png');
    writeFileSync(notes, 'not a photo at all');
    await page.setInputFiles('#photo', notes);
    await page.locator('#status.error').waitFor({ timeout: 30_000 });
    expect(await page.locator('#status').textContent()).toBe('notes.png: not a JPEG, PNG, BMP, PGM/PPM image (starts with 6e 6f 74 20)');
    // The browser itself logs the 422 as a failed resource load; that is the answer, not a page fault.
    expect(problems.filter((p) => !p.includes('422'))).toEqual([]);
  });
});
