// report.html (issue 5, item 5): one self-contained page — every picture and CSV inlined as a
// data: URL, no scripts, no external resources — that a person opens in any browser, and that can
// be mailed or archived as a single file. Pure: builds a string.

import { pngDataUrl } from './data-url.js';
import { escapeMarkup } from '../shared/render/escape-markup.js';
import type { TestTimeAugmentation } from '../shared/evaluation.js';

export interface ReportImage {
  /** Shown under the picture and as its alt text. */
  caption: string;
  png: Uint8Array;
  /** CSS pixels (the PNG may have more, for high-density screens). */
  width: number;
  height: number;
}

export interface ReportAttachment {
  fileName: string;
  mime: string;
  content: string;
}

export interface SplitSection {
  split: string;
  count: number;
  accuracy: number;
  loss: number;
  classificationReport: string;
  confusedPairs: string[];
  confusion: ReportImage[];
  predictions: ReportImage[];
  /** The CSV files, offered as downloads from the page itself. */
  attachments: ReportAttachment[];
}

export interface ReportPage {
  runId: string;
  runDir: string;
  checkpoint: { kind: string; epoch: number; dir: string };
  backend: string;
  /** Test-time augmentation the numbers were taken with. */
  tta: TestTimeAugmentation;
  /** What the test-time augmentation did, in words (describeTestViews). */
  ttaDescription: string;
  generatedAt: string;
  splits: SplitSection[];
  curves: ReportImage[];
  config: unknown;
  notes: string[];
}

function figure(image: ReportImage): string {
  const caption = escapeMarkup(image.caption);
  return `<figure><img src="${pngDataUrl(image.png)}" width="${image.width}" height="${image.height}" alt="${caption}"><figcaption>${caption}</figcaption></figure>`;
}

function download(attachment: ReportAttachment): string {
  const href = `data:${attachment.mime};base64,${Buffer.from(attachment.content, 'utf8').toString('base64')}`;
  return `<a download="${escapeMarkup(attachment.fileName)}" href="${href}">${escapeMarkup(attachment.fileName)}</a>`;
}

function splitSection(section: SplitSection): string {
  const pairs =
    section.confusedPairs.length === 0 ? '<p>No sample was misclassified.</p>' : `<ol>${section.confusedPairs.map((p) => `<li>${escapeMarkup(p)}</li>`).join('')}</ol>`;
  return `
<section id="split-${escapeMarkup(section.split)}">
<h2>${escapeMarkup(section.split)} split: accuracy ${section.accuracy.toFixed(4)}, loss ${section.loss.toFixed(4)} (${section.count} images)</h2>
<h3>Classification report</h3>
<pre>${escapeMarkup(section.classificationReport)}</pre>
<h3>Most confused classes</h3>
<p>True class → predicted class: samples of the true class, of all its samples.</p>
${pairs}
<h3>Confusion matrices</h3>
${section.confusion.map(figure).join('\n')}
<p>CSV: ${section.attachments.map(download).join(' · ')}</p>
<h3>Predictions</h3>
<p>Per true class, the most confident correct and incorrect predictions.</p>
${section.predictions.map(figure).join('\n')}
</section>`;
}

export function reportHtml(page: ReportPage): string {
  const title = `emotrain evaluation — ${page.runId}`;
  const summaryRows = page.splits
    .map((s) => `<tr><td>${escapeMarkup(s.split)}</td><td>${s.count}</td><td>${s.accuracy.toFixed(4)}</td><td>${s.loss.toFixed(4)}</td></tr>`)
    .join('');
  const notes = page.notes.length === 0 ? '' : `<ul class="notes">${page.notes.map((n) => `<li>${escapeMarkup(n)}</li>`).join('')}</ul>`;
  const curves = page.curves.length === 0 ? '<p>No epochs in metrics.csv yet.</p>' : page.curves.map(figure).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeMarkup(title)}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1280px; margin: 2em auto; padding: 0 1em; color: #1b1f23; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; } th, td { padding: .25em .8em; border-bottom: 1px solid #e1e4e8; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: .9em; }
figure { display: inline-block; margin: 0 1.5em 1.5em 0; vertical-align: top; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #586069; font-size: .9em; }
.meta { color: #586069; } .notes { color: #b08800; }
</style>
</head>
<body>
<h1>${escapeMarkup(title)}</h1>
<p class="meta">Run directory <code>${escapeMarkup(page.runDir)}</code>; checkpoint <code>${escapeMarkup(page.checkpoint.kind)}</code> (after epoch ${page.checkpoint.epoch}) from <code>${escapeMarkup(page.checkpoint.dir)}</code>; evaluated on the ${escapeMarkup(page.backend)} backend${page.tta === 'none' ? '' : ` with test-time augmentation: ${escapeMarkup(page.tta)} (${escapeMarkup(page.ttaDescription)})`} at ${escapeMarkup(page.generatedAt)}.</p>
${notes}
<table>
<thead><tr><th>split</th><th>images</th><th>accuracy</th><th>loss</th></tr></thead>
<tbody>${summaryRows}</tbody>
</table>
<h2>Training curves</h2>
${curves}
${page.splits.map(splitSection).join('\n')}
<h2>Run configuration</h2>
<pre>${escapeMarkup(JSON.stringify(page.config, null, 2))}</pre>
</body>
</html>
`;
}
