// The page `emotrain serve` shows at /: upload a photo or take one with the camera
// (getUserMedia), then see it annotated and a table of its faces. One self-contained document —
// its script and style inline, nothing fetched but /api/predict — so it works offline and a
// strict network policy changes nothing.

import { EMOTION_CLASSES } from '../../shared/classes.js';
import { escapeMarkup } from '../../shared/render/escape-markup.js';

export interface PageInfo {
  model: string;
  detector: string;
  runtime: string;
  maxBytes: number;
}

export function servePage(info: PageInfo): string {
  const about = `model ${info.model} · detector ${info.detector} · runtime ${info.runtime} · photos up to ${(info.maxBytes / 1024 / 1024).toFixed(1)} MiB`;
  const headers = EMOTION_CLASSES.map((name) => `<th>${name}</th>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>emotrain: emotions in a photo</title>
<style>
  body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 1.5rem auto; max-width: 64rem; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
  .about { color: #666; font-size: 0.85rem; margin-top: 0; }
  .controls { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: center; margin: 1rem 0; }
  button { font: inherit; padding: 0.4rem 0.9rem; cursor: pointer; }
  #status { min-height: 1.4rem; }
  #status.error { color: #b00020; }
  video, #result { max-width: 100%; display: block; margin: 0.6rem 0; }
  video { max-height: 22rem; background: #000; }
  table { border-collapse: collapse; margin-top: 0.6rem; font-size: 0.9rem; }
  th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
  th:nth-child(2), td:nth-child(2) { text-align: left; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<h1>emotrain: the emotion on each face</h1>
<p class="about">${escapeMarkup(about)}</p>
<div class="controls">
  <label>Upload a photo <input type="file" id="photo" accept="image/*"></label>
  <button type="button" id="camera">Use the camera</button>
  <button type="button" id="shoot" hidden>Take the photo</button>
</div>
<video id="preview" autoplay playsinline muted hidden></video>
<p id="status" role="status"></p>
<img id="result" alt="the photo with each face's box, emotion and confidence" hidden>
<table id="faces" hidden>
  <thead><tr><th>#</th><th>emotion</th><th>confidence</th><th>box (x, y, width × height)</th>${headers}</tr></thead>
  <tbody></tbody>
</table>
<script>
"use strict";
const CLASSES = ${JSON.stringify(EMOTION_CLASSES)};
const statusLine = document.getElementById('status');
const result = document.getElementById('result');
const table = document.getElementById('faces');
const video = document.getElementById('preview');
const shoot = document.getElementById('shoot');

function say(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? 'error' : '';
}

async function send(blob, name) {
  say('Looking for faces in ' + name + '…', false);
  let answer;
  let response;
  try {
    response = await fetch('/api/predict?annotate=true&name=' + encodeURIComponent(name), {
      method: 'POST',
      headers: { 'content-type': blob.type || 'application/octet-stream' },
      body: blob,
    });
    answer = await response.json();
  } catch (error) {
    say('The server could not be reached: ' + error.message, true);
    return;
  }
  if (!response.ok) {
    say(answer && answer.error ? answer.error.message : 'The server answered ' + response.status, true);
    return;
  }
  show(answer);
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
}

function show(answer) {
  result.src = answer.annotatedImage;
  result.hidden = false;
  const body = table.tBodies[0];
  body.replaceChildren();
  answer.faces.forEach((face, i) => {
    const row = document.createElement('tr');
    cell(row, String(i + 1));
    cell(row, face.label);
    cell(row, (face.confidence * 100).toFixed(1) + '%');
    const b = face.box;
    cell(row, Math.round(b.x) + ', ' + Math.round(b.y) + ', ' + Math.round(b.width) + ' × ' + Math.round(b.height));
    for (const name of CLASSES) cell(row, (face.probabilities[name] * 100).toFixed(1) + '%');
    body.appendChild(row);
  });
  table.hidden = answer.faces.length === 0;
  const count = answer.faces.length;
  say(count === 0 ? 'No face found in ' + answer.image + '.' : count + (count === 1 ? ' face' : ' faces') + ' in ' + answer.image + ' (' + answer.width + ' × ' + answer.height + ').', false);
}

document.getElementById('photo').addEventListener('change', (event) => {
  const file = event.target.files[0];
  if (file) send(file, file.name);
});

document.getElementById('camera').addEventListener('click', async () => {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('This browser gives the page no camera (it needs https or localhost).', true);
    return;
  }
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    await video.play();
  } catch (error) {
    say('The camera is not available: ' + error.message, true);
    return;
  }
  video.hidden = false;
  shoot.hidden = false;
  say('Camera on: take the photo when ready.', false);
});

shoot.addEventListener('click', () => {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    if (blob) send(blob, 'camera.jpg');
    else say('The camera gave no picture.', true);
  }, 'image/jpeg', 0.92);
});
</script>
</body>
</html>
`;
}
