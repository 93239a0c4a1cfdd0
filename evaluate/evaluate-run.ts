// `emotrain evaluate`: the study's results section for one run, as one command (issue 5). Reads
// the run directory, rebuilds the exact dataset and split the run used, evaluates the chosen
// checkpoint on val and/or test in this process (split-evaluation.ts says why the numbers equal
// the run's own), and writes the report files and report.html into runs/<id>/report/ or --out.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { prepareDataset, type PreparedDataset } from '../shared/dataset/prepare.js';
import { SampleStore } from '../shared/data/sample-store.js';
import { EMOTION_CLASSES, NUM_CLASSES } from '../shared/classes.js';
import { workerConfigOf, type BackendChoice } from '../shared/config.js';
import { ReportError } from '../shared/errors.js';
import { describeTestViews, testViews, type TestTimeAugmentation } from '../shared/evaluation.js';
import { STUDY_AUGMENTATION } from '../shared/image/augmentation.js';
import { loadLayersModelFromDir } from '../shared/model-io.js';
import { selectBackend } from '../shared/backend/select-backend.js';
import { renderChart } from './chart-renderer.js';
import { CHART_SCALE, confusionHeatmapSpec, trainingCurvesSpec, type HeatmapValues } from './charts.js';
import { classificationReport, classificationReportJson, formatClassificationReport } from './classification-report.js';
import { confusionCsv, confusionMatrix, describeConfusedPair, mostConfusedPairs, rowNormalised } from './confusion.js';
import { imageDataUrl } from './data-url.js';
import { predictionGridSpec, selectPredictionExamples, type PredictionKind } from './prediction-grid.js';
import { predictionsCsv } from './predictions-csv.js';
import { reportHtml, type ReportImage, type SplitSection } from './report-html.js';
import type { CheckpointKind } from '../shared/checkpoint-source.js';
import { readRunRecord, resolveCheckpoint, DEFAULT_SYNTHETIC_SEED, type RunRecord } from './run-record.js';
import { evaluateSplit, type SplitName, type SplitOutcome } from './split-evaluation.js';

export interface EvaluateOptions {
  runDir: string;
  splits: readonly SplitName[];
  checkpoint: CheckpointKind;
  /** Default: <runDir>/report. */
  outDir?: string;
  backend?: BackendChoice;
  /** Faces per class in each prediction grid. */
  examplesPerClass?: number;
  /** Test-time augmentation (default none: the numbers validation gave during training). */
  tta?: TestTimeAugmentation;
  /** Progress lines for the user. */
  log?: (line: string) => void;
}

export interface SplitSummary {
  split: SplitName;
  count: number;
  accuracy: number;
  loss: number;
  mostConfused: string[];
}

export interface EvaluationSummary {
  runId: string;
  outDir: string;
  reportFile: string;
  checkpoint: { kind: CheckpointKind; epoch: number; dir: string };
  backend: string;
  tta: TestTimeAugmentation;
  splits: SplitSummary[];
  /** Names of the files written into outDir. */
  files: string[];
}

export const DEFAULT_EXAMPLES_PER_CLASS = 6;
/** How many confused pairs the report lists per split. */
const CONFUSED_PAIRS_LISTED = 5;

export async function evaluateRun(options: EvaluateOptions): Promise<EvaluationSummary> {
  const log = options.log ?? (() => {});
  const run = readRunRecord(options.runDir);
  for (const warning of run.warnings) log(`note: ${warning}`);
  const checkpoint = resolveCheckpoint(run, options.checkpoint);
  const workerConfig = workerConfigOf(run.config);
  const tta = options.tta ?? 'none';
  const augmentation = workerConfig.augmentation ?? STUDY_AUGMENTATION;
  const views = testViews(tta, { augment: workerConfig.augment, flip: augmentation.flip, zoom: augmentation.zoom }, run.dir);
  const ttaDescription = describeTestViews(tta, augmentation.zoom);
  const dataset = await prepareRunDataset(run);
  if (dataset.generated) log(`regenerated the synthetic dataset of the run in ${dataset.index.root}`);
  const backend = await selectBackend(options.backend ?? 'auto');
  log(`evaluating ${checkpoint.dir} (epoch ${checkpoint.meta.epoch}) with the ${backend.name} backend${tta === 'none' ? '' : `, ${ttaDescription} (--tta ${tta})`}`);

  const store = new SampleStore(dataset.index, 0);
  const model = await loadLayersModelFromDir(checkpoint.dir);
  const outcomes: SplitOutcome[] = [];
  try {
    for (const split of options.splits) outcomes.push(await evaluateSplit(model, split, dataset.split[split], dataset.index, store, workerConfig, views));
  } finally {
    model.dispose();
  }

  const outDir = path.resolve(options.outDir ?? path.join(run.dir, 'report'));
  const files = new Map<string, Uint8Array | string>();
  const sections: SplitSection[] = [];
  const summaries: SplitSummary[] = [];
  for (const outcome of outcomes) {
    const { section, summary } = await reportSplit(outcome, store, options.examplesPerClass ?? DEFAULT_EXAMPLES_PER_CLASS, files);
    files.set(`${outcome.split}-predictions.csv`, predictionsCsv(outcome, (id) => path.join(dataset.index.root, dataset.index.samples[id]!.path)));
    sections.push(section);
    summaries.push(summary);
    log(`${outcome.split}: accuracy ${outcome.accuracy.toFixed(4)}, loss ${outcome.loss.toFixed(4)} (${outcome.sampleIds.length} images)`);
    if (summary.mostConfused.length > 0) log(`  most confused: ${summary.mostConfused.slice(0, 3).join('; ')}`);
  }
  const curves = await trainingCurves(run, files);

  const generatedAt = new Date().toISOString();
  const checkpointInfo = { kind: checkpoint.kind, epoch: checkpoint.meta.epoch, dir: checkpoint.dir };
  const html = reportHtml({
    runId: run.config.runId,
    runDir: run.dir,
    checkpoint: checkpointInfo,
    backend: backend.name,
    tta,
    ttaDescription,
    generatedAt,
    splits: sections,
    curves,
    config: run.config,
    notes: run.warnings,
  });
  files.set('report.html', html);
  const fileNames = [...files.keys(), 'summary.json'];
  files.set(
    'summary.json',
    `${JSON.stringify(
      {
        runId: run.config.runId,
        runDir: run.dir,
        checkpoint: { ...checkpointInfo, valAccuracy: checkpoint.meta.valAccuracy, valLoss: checkpoint.meta.valLoss },
        backend: backend.name,
        tta,
        generatedAt,
        splits: Object.fromEntries(summaries.map(({ split, ...rest }) => [split, rest])),
        files: fileNames,
      },
      null,
      2,
    )}\n`,
  );
  mkdirSync(outDir, { recursive: true });
  // Only these names are written: --out may name a directory that holds other things.
  for (const [name, content] of files) writeFileSync(path.join(outDir, name), content);
  return { runId: run.config.runId, outDir, reportFile: path.join(outDir, 'report.html'), checkpoint: checkpointInfo, backend: backend.name, tta, splits: summaries, files: fileNames };
}

/** The dataset and split of the run, refusing a dataset that has changed since. */
async function prepareRunDataset(run: RunRecord): Promise<PreparedDataset> {
  const { config } = run;
  const dataset = await prepareDataset(config.dataset, {
    syntheticCount: config.syntheticCount,
    syntheticSeed: config.syntheticSeed ?? DEFAULT_SYNTHETIC_SEED,
    splitSeed: config.seed,
    valSplit: config.valSplit,
  });
  const recorded = config.split;
  for (const name of ['train', 'val', 'test'] as const) {
    if (recorded !== undefined && recorded[name] !== dataset.split[name].length) {
      throw new ReportError(
        'RUN_INVALID',
        `the dataset ${dataset.index.root} now gives a ${name} split of ${dataset.split[name].length} images, but the run (${path.join(run.dir, 'config.json')}) had ${recorded[name]}: it has changed since the run, so the run's numbers cannot be reproduced`,
      );
    }
  }
  return dataset;
}

async function reportSplit(
  outcome: SplitOutcome,
  store: SampleStore,
  examplesPerClass: number,
  files: Map<string, Uint8Array | string>,
): Promise<{ section: SplitSection; summary: SplitSummary }> {
  const { split } = outcome;
  const matrix = confusionMatrix(outcome.labels, outcome.predictions, NUM_CLASSES);
  const normalized = rowNormalised(matrix);
  const report = classificationReport(matrix, EMOTION_CLASSES);
  const reportText = formatClassificationReport(report);
  const pairs = mostConfusedPairs(matrix, EMOTION_CLASSES, CONFUSED_PAIRS_LISTED).map(describeConfusedPair);
  files.set(`${split}-classification-report.txt`, reportText);
  files.set(`${split}-classification-report.json`, `${JSON.stringify(classificationReportJson(report), null, 2)}\n`);
  const countsCsv = confusionCsv(matrix, EMOTION_CLASSES);
  const normalizedCsv = confusionCsv(normalized, EMOTION_CLASSES);
  files.set(`${split}-confusion-counts.csv`, countsCsv);
  files.set(`${split}-confusion-normalized.csv`, normalizedCsv);
  files.set(`${split}-most-confused.txt`, pairs.map((p) => `${p}\n`).join(''));

  const heatmap = async (values: HeatmapValues, matrixValues: number[][], caption: string) =>
    chartImage(files, `${split}-confusion-${values}.png`, caption, confusionHeatmapSpec(matrixValues, EMOTION_CLASSES, values, caption));
  const confusion = [
    await heatmap('counts', matrix, `${split}: confusion matrix (counts)`),
    await heatmap('normalized', normalized, `${split}: confusion matrix (row-normalised: share of each true class)`),
  ];
  const predictions: ReportImage[] = [];
  for (const kind of ['correct', 'incorrect'] as const) predictions.push(await predictionGrid(outcome, kind, examplesPerClass, store, files));
  return {
    section: {
      split,
      count: outcome.sampleIds.length,
      accuracy: outcome.accuracy,
      loss: outcome.loss,
      classificationReport: reportText,
      confusedPairs: pairs,
      confusion,
      predictions,
      attachments: [
        { fileName: `${split}-confusion-counts.csv`, mime: 'text/csv', content: countsCsv },
        { fileName: `${split}-confusion-normalized.csv`, mime: 'text/csv', content: normalizedCsv },
      ],
    },
    summary: { split, count: outcome.sampleIds.length, accuracy: outcome.accuracy, loss: outcome.loss, mostConfused: pairs },
  };
}

async function predictionGrid(
  outcome: SplitOutcome,
  kind: PredictionKind,
  examplesPerClass: number,
  store: SampleStore,
  files: Map<string, Uint8Array | string>,
): Promise<ReportImage> {
  const perClass = selectPredictionExamples(outcome, kind, examplesPerClass, NUM_CLASSES);
  const rows = await Promise.all(
    perClass.map(async ({ examples, total }, c) => {
      const support = outcome.labels.filter((label) => label === c).length;
      return {
        label: EMOTION_CLASSES[c]!,
        note: `${total} of ${support} ${kind}`,
        tiles: await Promise.all(
          examples.map(async (e) => ({
            imageUrl: imageDataUrl(await store.bytes(e.sampleId)),
            trueLabel: EMOTION_CLASSES[e.trueClass]!,
            predictedLabel: EMOTION_CLASSES[e.predictedClass]!,
            confidence: e.confidence,
          })),
        ),
      };
    }),
  );
  const caption = `${outcome.split}: ${kind} predictions, most confident first`;
  // Faces are shown at about their stored size, so no extra resolution is needed.
  return chartImage(files, `${outcome.split}-predictions-${kind}.png`, caption, predictionGridSpec(caption, rows, examplesPerClass, kind), 1);
}

async function trainingCurves(run: RunRecord, files: Map<string, Uint8Array | string>): Promise<ReportImage[]> {
  if (run.metrics.length === 0) return [];
  const images: ReportImage[] = [];
  for (const metric of ['accuracy', 'loss'] as const) {
    const valKey = metric === 'accuracy' ? 'val_accuracy' : 'val_loss';
    const points = run.metrics.map((row) => ({ epoch: row.epoch, train: row[metric], val: row[valKey] }));
    const caption = `${metric} per epoch, train and val`;
    images.push(await chartImage(files, `training-${metric}.png`, caption, trainingCurvesSpec(metric, points, run.lrReductions)));
  }
  return images;
}

async function chartImage(
  files: Map<string, Uint8Array | string>,
  fileName: string,
  caption: string,
  spec: TopLevelSpec,
  scale = CHART_SCALE,
): Promise<ReportImage> {
  const chart = await renderChart(fileName, spec, scale);
  files.set(fileName, chart.png);
  return { caption, png: chart.png, width: chart.width / scale, height: chart.height / scale };
}
