// npm run bench:framing -- --faces DIR — how a detector's box relates to the framing of a set of
// training faces (issue 10: "the face crop is prepared exactly as training prepared its inputs,
// with a margin you measure"). Runs each detector on face crops from a dataset (image files
// anywhere under DIR, e.g. FER2013's 48x48 test faces) as the app would on a photo, and for every
// crop whose face is found reports the crop's side over the box's larger side (the crop scale)
// and how far the crop's centre lies below the box's centre, in box heights (the shift):
// medians and quartiles. Those medians are the CropFraming the app uses (app/detect/detector-settings.ts).
// Options: --faces DIR (required), --count N (crops sampled, default 600), --detectors a,b,
// --border F (the detection view's border, default the app's: a larger one lets the DNN detectors
// find more of these tight crops, and a box's place on the face does not depend on it).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { selectBackend } from '../shared/backend/select-backend.js';
import { DETECTOR_NAMES, loadDetector, type DetectorName } from '../app/detect/face-detector.js';
import { findFaces } from '../app/detect/face-finder.js';
import { DETECTION_VIEW } from '../app/detect/detector-settings.js';
import { readPhoto } from '../app/image/photo.js';
import { resizeRgb } from '../app/image/resize-rgb.js';
import { loadAverage } from './options.js';

function option(name: string, fallback: string | undefined): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const facesDir = option('faces', undefined);
if (facesDir === undefined) {
  process.stderr.write('bench:framing: give --faces DIR (a folder of training face crops, e.g. FER2013 test/ extracted from ../shared/datasets/fer2013.tar.gz)\n');
  process.exit(1);
}
const count = Number(option('count', '600'));
const detectorNames = (option('detectors', DETECTOR_NAMES.join(',')) ?? '').split(',') as DetectorName[];
const view = { ...DETECTION_VIEW, border: Number(option('border', String(DETECTION_VIEW.border))) };

function imagesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) return imagesUnder(file);
      return /\.(jpe?g|png|bmp|p[gpn]m)$/i.test(name) ? [file] : [];
    });
}

// Every k-th file, so all classes (folders) are represented.
const all = imagesUnder(path.resolve(facesDir));
const step = Math.max(1, Math.floor(all.length / count));
const files = all.filter((_, i) => i % step === 0).slice(0, count);
const backend = await selectBackend('auto');
process.stdout.write(`${files.length} of ${all.length} face crops under ${facesDir}; backend ${backend.name}; detection border ${view.border}; load average ${loadAverage()}\n\n`);
process.stdout.write('| detector | crops with a face found | crop scale: median (quartiles) | shift: median (quartiles) |\n|---|---|---|---|\n');

const quartiles = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), low: at(0.25), high: at(0.75) };
};

for (const name of detectorNames) {
  const detector = await loadDetector(name);
  const scales: number[] = [];
  const shifts: number[] = [];
  for (const file of files) {
    const photo = await readPhoto(readFileSync(file), file, { maxPixels: 50e6 });
    // A photo's face is larger than a 48-pixel training crop; enlarging it as the annotated copy
    // would keeps the cascade's 24-pixel window from being the limit.
    const image = photo.image.width < 192 ? resizeRgb(photo.image, 192, Math.round((192 * photo.image.height) / photo.image.width)) : photo.image;
    const faces = await findFaces(image, detector, view, 0);
    const face = faces[0];
    if (face === undefined) continue;
    const box = face.fullBox;
    scales.push(Math.max(image.width, image.height) / Math.max(box.width, box.height));
    shifts.push((image.height / 2 - (box.y + box.height / 2)) / box.height);
  }
  if (scales.length === 0) {
    process.stdout.write(`| ${name} | 0 of ${files.length} | – | – |\n`);
    detector.dispose();
    continue;
  }
  const s = quartiles(scales);
  const d = quartiles(shifts);
  process.stdout.write(
    `| ${name} | ${scales.length} of ${files.length} | ${s.median.toFixed(3)} (${s.low.toFixed(3)}–${s.high.toFixed(3)}) | ${d.median.toFixed(3)} (${d.low.toFixed(3)}–${d.high.toFixed(3)}) |\n`,
  );
  detector.dispose();
}
process.stdout.write(`\nload average ${loadAverage()}\n`);
