// npm run bench:detectors — which face detector to default to (issue 10, acceptance a): on a folder
// of photos with one labelled face each (../shared/datasets/photos/: 40 news photos, labels.csv),
// per detector and detection view, the photos whose face was found, the other boxes (false
// detections), and ms per photo (detection only, after a warm-up photo). The labelled face is the
// one in the middle of each photo (the set's photos are centred on it): a box found counts as that
// face when it contains the photo's centre; every other box is counted as a false detection (a
// second real face in the background would be counted too: look at the contact sheets).
// Options: --photos DIR (default ../shared/datasets/photos), --out DIR (contact sheets, default
// bench-results/detectors), --borders 0,0.25 (border fractions to try), --max-side N (default
// the app's), --detectors a,b, --min-face N (default 0).

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { selectBackend } from '../shared/backend/select-backend.js';
import { encodePng } from '../shared/image/png.js';
import { renderImageGrid } from '../shared/render/image-grid.js';
import { DETECTOR_NAMES, loadDetector, type DetectorName } from '../app/detect/face-detector.js';
import { DETECTION_VIEW } from '../app/detect/detector-settings.js';
import { findFaces, type FoundFace } from '../app/detect/face-finder.js';
import { readPhoto, type Photo } from '../app/image/photo.js';
import { annotatedPixels } from '../app/predict/annotate.js';
import { loadAverage, option } from './options.js';

const photosDir = path.resolve(option('photos', '../shared/datasets/photos'));
const outDir = path.resolve(option('out', 'bench-results/detectors'));
const borders = option('borders', '0,0.25').split(',').map(Number);
const maxSide = Number(option('max-side', String(DETECTION_VIEW.maxSide)));
const minFace = Number(option('min-face', '0'));
const detectorNames = option('detectors', DETECTOR_NAMES.join(',')).split(',') as DetectorName[];

if (!existsSync(photosDir)) {
  process.stderr.write(`bench:detectors: ${photosDir} does not exist (the benchmark photos live in ../shared/datasets/photos; give --photos DIR)\n`);
  process.exit(1);
}

const labelled = new Map<string, string>();
const labelsFile = path.join(photosDir, 'labels.csv');
if (existsSync(labelsFile)) {
  for (const line of readFileSync(labelsFile, 'utf8').trim().split('\n').slice(1)) {
    const [image, emotion] = line.split(',');
    if (image) labelled.set(image, emotion ?? '');
  }
}
const names = readdirSync(photosDir).filter((name) => /\.(jpe?g|png|bmp|p[gpn]m)$/i.test(name)).sort();
const photos: Array<{ name: string; photo: Photo }> = [];
for (const name of names) photos.push({ name, photo: await readPhoto(readFileSync(path.join(photosDir, name)), name, { maxPixels: 50e6 }) });

const backend = await selectBackend('auto');
process.stdout.write(`${photos.length} photos in ${photosDir} (${labelled.size} labelled); backend ${backend.name}; load average ${loadAverage()}\n\n`);
process.stdout.write('| detector | border | faces found | missed | false detections | ms per photo (mean) | ms per photo (median) |\n|---|---|---|---|---|---|---|\n');
mkdirSync(outDir, { recursive: true });

const containsCentre = (face: FoundFace, photo: Photo) => {
  const cx = photo.image.width / 2;
  const cy = photo.image.height / 2;
  return face.box.x <= cx && cx <= face.box.x + face.box.width && face.box.y <= cy && cy <= face.box.y + face.box.height;
};

for (const name of detectorNames) {
  const detector = await loadDetector(name);
  for (const border of borders) {
    const view = { maxSide, border };
    await findFaces(photos[0]!.photo.image, detector, view, minFace); // warm-up: first-call compilation
    let found = 0;
    let falseDetections = 0;
    const times: number[] = [];
    const missed: string[] = [];
    const tiles = [];
    for (const { name: photoName, photo } of photos) {
      const start = performance.now();
      const faces = await findFaces(photo.image, detector, view, minFace);
      times.push(performance.now() - start);
      const hit = faces.filter((face) => containsCentre(face, photo));
      if (hit.length > 0) found++;
      else missed.push(photoName);
      falseDetections += faces.length - Math.min(1, hit.length);
      const tags = faces.map((face) => ({ box: face.box, text: face.score === null ? 'face' : face.score.toFixed(2), colour: containsCentre(face, photo) ? '#2e7d32' : '#c62828' }));
      tiles.push({ png: encodePng(annotatedPixels(photo.image, tags)), label: photoName.replace(/\.[^.]+$/, '').slice(0, 24), caption: [`${faces.length} box(es)`] });
    }
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    process.stdout.write(`| ${name} | ${border} | ${found} of ${photos.length} | ${missed.length} | ${falseDetections} | ${mean.toFixed(1)} | ${median.toFixed(1)} |\n`);
    process.stderr.write(`  ${name} border ${border} missed: ${missed.join(', ') || 'none'} (load average ${loadAverage()})\n`);
    const sheet = path.join(outDir, `${name}-border-${border}.png`);
    writeFileSync(sheet, await renderImageGrid(tiles, { columns: 8, tileSize: 160, title: `${name}, border ${border}: green = the labelled face, red = other boxes` }));
  }
  detector.dispose();
}
process.stdout.write(`\ncontact sheets in ${outDir}; load average ${loadAverage()}\n`);
