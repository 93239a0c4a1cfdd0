// Issue 10, point 1: every face detector installs from npm alone and loads offline — OpenCV's
// Haar cascade through OpenCV.js, face-api's tiny_face_detector and ssd_mobilenetv1 on tfjs' wasm
// backend — and each finds the one face of a real photo (NASA's public-domain astronaut portrait,
// test/fixtures/) and none in a photo of nothing.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../shared/backend/select-backend.js';
import { DETECTION_VIEW } from '../app/detect/detector-settings.js';
import { DETECTOR_NAMES, loadDetector } from '../app/detect/face-detector.js';
import { findFaces } from '../app/detect/face-finder.js';
import { readPhoto, type Photo } from '../app/image/photo.js';
import { ASTRONAUT, ASTRONAUT_FACE_CENTRE as FACE_CENTRE } from './helpers/photos.js';

let astronaut: Photo;

beforeAll(async () => {
  await selectBackend('wasm');
  astronaut = await readPhoto(readFileSync(ASTRONAUT), 'astronaut.png', { maxPixels: 1e7 });
});

describe.each(DETECTOR_NAMES)('the %s detector', (name) => {
  it("finds the astronaut's face and nothing else", async () => {
    const detector = await loadDetector(name);
    const faces = await findFaces(astronaut.image, detector, DETECTION_VIEW, 24);
    detector.dispose();
    expect(faces).toHaveLength(1);
    const { box, score } = faces[0]!;
    expect(box.x < FACE_CENTRE.x && FACE_CENTRE.x < box.x + box.width && box.y < FACE_CENTRE.y && FACE_CENTRE.y < box.y + box.height, JSON.stringify(box)).toBe(true);
    // A face, not the whole photo: between 60 and 160 pixels across.
    expect(box.width).toBeGreaterThan(60);
    expect(box.width).toBeLessThan(160);
    if (name === 'haar') expect(score).toBeNull();
    else expect(score).toBeGreaterThan(0.5);
  });

  it('finds no face in a plain gradient', async () => {
    const width = 320;
    const height = 240;
    const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => Math.floor(i / 3 / width) % 256);
    const detector = await loadDetector(name);
    expect(await findFaces({ width, height, data }, detector, DETECTION_VIEW, 24)).toEqual([]);
    detector.dispose();
  });
});
