#!/usr/bin/env node
// `emotrain`: the tools around training (SPEC §4).
//   emotrain dataset inspect PATH [--json]            images per class per split, as a run uses them
//   emotrain dataset preview PATH --out grid.png      augmented training samples with their labels
//   emotrain dataset synth OUT --count N              the synthetic face set in RAF-DB's layout
//   emotrain evaluate runs/<run-id> [--split ...]     the study's results section as a report
//   emotrain predict PHOTO|DIR... --model RUN         faces, emotions, annotated copies (app/predict)
//   emotrain serve --model RUN                        the web page and API of the same (app/serve)
//   emotrain export RUN --format onnx|tfjs            the model for other runtimes (export/)
//   emotrain status [--nats URL] [--run ID] [--json]  a running run's world, step, metrics and ETA
//   emotrain stop [--nats URL] [--run ID] [--token T] stop it cleanly at the next step boundary
//   srun emotrain slurm -- [coordinator flags]        one task of a Slurm launch (deploy/slurm/)

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_EXAMPLES_PER_CLASS, evaluateRun } from '../evaluate/evaluate-run.js';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { augmentationFrom, runMain, tokenFrom, withAugmentationFlags, withConfigFile } from '../shared/cli.js';
import { natsSettingsFrom, withNatsFlags, type NatsFlags } from '../shared/control/nats-settings.js';
import { statusCommand, stopCommand } from './control-commands.js';
import { slurmTask } from '../launch/slurm-env.js';
import { runSlurmTask } from '../launch/slurm-launch.js';
import { BACKEND_CHOICES, validateAugmentation, type BackendChoice } from '../shared/config.js';
import { TTA_CHOICES, type TestTimeAugmentation } from '../shared/evaluation.js';
import { prepareDataset } from '../shared/dataset/prepare.js';
import { datasetReport, formatDatasetReport } from '../shared/dataset/inspect.js';
import { previewTiles } from '../shared/dataset/preview.js';
import { writeSyntheticDataset } from '../shared/dataset/synthetic.js';
import { ConfigError } from '../shared/errors.js';
import { renderImageGrid } from '../shared/render/image-grid.js';
import { DEFAULT_DETECTOR } from '../app/detect/detector-settings.js';
import { DETECTOR_NAMES, type DetectorName } from '../app/detect/face-detector.js';
import { RUNTIMES, type Runtime } from '../app/predict/classifier.js';
import { runPredict } from '../app/predict/predict-command.js';
import { runServe } from '../app/serve/serve-command.js';
import { EXPORT_FORMATS, runExport, type ExportFormat } from '../export/export-command.js';

/** The dataset as a run with these flags would use it: generated if synthetic, validated (verdicts cached) and split. */
function openForRun(dataset: string, flags: { seed: number; 'val-split'?: number | undefined; 'synthetic-count': number; 'synthetic-seed': number }, log: (line: string) => void) {
  return prepareDataset(dataset, {
    splitSeed: requireInteger('seed', flags.seed, 0, 2 ** 32 - 1),
    valSplit: flags['val-split'],
    syntheticCount: requireInteger('synthetic-count', flags['synthetic-count'], 70, 1_000_000),
    syntheticSeed: requireInteger('synthetic-seed', flags['synthetic-seed'], 0, 2 ** 32 - 1),
    log,
  });
}

/** --synthetic-count and --synthetic-seed, for a PATH of 'synthetic', as the coordinator takes them. */
function syntheticOptions<T>(y: Argv<T>) {
  return y
    .option('synthetic-count', { type: 'number', default: 4000, describe: "images in the synthetic set (PATH 'synthetic')" })
    .option('synthetic-seed', { type: 'number', default: 1, describe: "seed of the synthetic set (PATH 'synthetic')" });
}

/** --nats, or the local server a person most likely runs (nats-server's default address). */
function controlSettings(flags: NatsFlags) {
  return natsSettingsFrom({ ...flags, nats: flags.nats ?? process.env['EMOTRAIN_NATS'] ?? 'nats://127.0.0.1:4222' })!;
}

/** The NATS flags of `status` and `stop`, which talk to a coordinator's server. */
function controlFlags<T>(y: Argv<T>) {
  return withNatsFlags(y, 'the NATS server the coordinator was started with (default: $EMOTRAIN_NATS, else nats://127.0.0.1:4222)', 'NATS:');
}

function requireInteger(flag: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError('CONFIG_INVALID', `--${flag} must be an integer in [${min}, ${max}], got ${value}`);
  return value;
}

/** The flags predict and serve share: how faces are found, and which runtime classifies them. */
function withDetectionFlags<T>(y: Argv<T>) {
  return y
    .option('detector', { choices: DETECTOR_NAMES, default: DEFAULT_DETECTOR as DetectorName, describe: 'face detector (README "The app" has the figures)' })
    .option('detect', { type: 'boolean', default: true, describe: 'find faces; --no-detect classifies each whole photo as one face (pre-cropped faces, as FER2013)' })
    .option('min-face', { type: 'number', default: 24, describe: 'leave out faces smaller than this many pixels (shorter side of the box)' })
    .option('runtime', { choices: RUNTIMES, default: 'tfjs' as Runtime, describe: 'run the classifier with tfjs or onnxruntime (the checkpoint converted to ONNX in memory)' })
    .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: "tfjs' compute backend (also the DNN detectors')" })
    .option('max-megapixels', { type: 'number', default: 40, describe: 'refuse photos with more pixels than this (millions), before decoding them' });
}

function detectionSettings(args: { detector: DetectorName; detect: boolean; 'min-face': number; runtime: Runtime; backend: BackendChoice; 'max-megapixels': number }) {
  const maxMegapixels = args['max-megapixels'];
  if (!(maxMegapixels > 0 && maxMegapixels <= 1000)) throw new ConfigError('CONFIG_INVALID', `--max-megapixels must be a number in (0, 1000], got ${maxMegapixels}`);
  return {
    detector: args.detect ? args.detector : undefined,
    minFaceSide: requireInteger('min-face', args['min-face'], 0, 100_000),
    runtime: args.runtime,
    backend: args.backend,
    maxPixels: Math.round(maxMegapixels * 1e6),
  };
}

runMain('emotrain', async () => {
  // Commands whose exit code says more than success or failure (predict: did any photo fail) set it here.
  let exitCode = 0;
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  // --config FILE (YAML or JSON) for every command; a usage mistake is said in one line (withConfigFile).
  await withConfigFile(yargs(hideBin(process.argv)))
    .scriptName('emotrain')
    // `emotrain slurm -- FLAGS`: what follows `--` is the coordinator's.
    .parserConfiguration({ 'populate--': true })
    .usage('$0 <command>\n\nDataset tooling, evaluation reports and the emotion-labelling app.')
    .command('dataset', 'dataset tools', (dataset) =>
      dataset
        .command(
          'inspect <path>',
          "the study's Figure 1: images per class in train/val/test as a run would use them, the class imbalance, the layout and every skipped file",
          (y) =>
            syntheticOptions(y)
              .positional('path', { type: 'string', demandOption: true, describe: "dataset directory (any supported layout), or 'synthetic'" })
              .option('seed', { type: 'number', default: 42, describe: "the run's --seed (it decides the split where the dataset has none of its own)" })
              .option('val-split', { type: 'number', describe: "the run's --val-split (default 1/9 of the non-test data)" })
              .option('json', { type: 'boolean', default: false, describe: 'print JSON for machines' }),
          async (args) => {
            const { index, split } = await openForRun(args.path, args, progress);
            const report = datasetReport(index, split);
            process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatDatasetReport(report));
          },
        )
        .command(
          'preview <path>',
          'a grid of augmented training samples with their labels, as a run feeds them to the model',
          (y) =>
            withAugmentationFlags(syntheticOptions(y))
              .positional('path', { type: 'string', demandOption: true, describe: "dataset directory (any supported layout), or 'synthetic'" })
              .option('out', { type: 'string', demandOption: true, describe: 'PNG file to write' })
              .option('count', { type: 'number', default: 16, describe: 'samples to show' })
              .option('seed', { type: 'number', default: 42, describe: "the run's --seed (which samples, which augmentation)" })
              .option('epoch', { type: 'number', default: 0, describe: 'whose augmentation to show (0 = the first epoch)' })
              .option('image-size', { type: 'number', default: 224, describe: "the model's input side in pixels" }),
          async (args) => {
            const seed = requireInteger('seed', args.seed, 0, 2 ** 32 - 1);
            const count = requireInteger('count', args.count, 1, 400);
            const imageSize = requireInteger('image-size', args['image-size'], 16, 1024);
            const epoch = requireInteger('epoch', args.epoch, 0, 100_000);
            const { index, split } = await openForRun(args.path, args, progress);
            const augmentation = validateAugmentation(augmentationFrom(args));
            const tiles = await previewTiles(index, split.train, { count, seed, imageSize, epoch, augmentation });
            const png = await renderImageGrid(tiles, {
              columns: Math.ceil(Math.sqrt(tiles.length)),
              tileSize: imageSize,
              title: `${path.basename(index.root)} (${index.layout}): ${tiles.length} training samples, augmented as in epoch ${epoch + 1} with seed ${seed}`,
            });
            writeFileSync(args.out, png);
            process.stdout.write(`wrote ${args.out} (${tiles.length} samples, ${imageSize}x${imageSize})\n`);
          },
        )
        .command(
          'synth <out>',
          'write the synthetic face set in the RAF-DB official layout',
          (y) =>
            y
              .positional('out', { type: 'string', demandOption: true, describe: 'directory to create' })
              .option('count', { type: 'number', default: 4000, describe: 'number of images' })
              .option('seed', { type: 'number', default: 1, describe: 'seed (the same seed gives byte-identical files)' })
              .option('size', { type: 'number', default: 100, describe: 'image side in pixels (RAF-DB aligned faces are 100)' }),
          async (args) => {
            const summary = await writeSyntheticDataset(path.resolve(args.out), { count: args.count, seed: args.seed, size: args.size });
            const perClass = EMOTION_CLASSES.map((name) => `${name} ${summary.classCounts[name]}`).join(', ');
            process.stdout.write(`wrote ${summary.count} images to ${summary.dir} (train ${summary.trainCount}, test ${summary.testCount}; ${perClass})\n`);
          },
        )
        .demandCommand(1, 'name a dataset command: inspect, preview or synth'),
    )
    .command(
      'evaluate <run>',
      'accuracy and loss per split, classification report, confusion matrices, training curves and prediction grids of a run, with report.html',
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, describe: 'the run directory (runs/<run-id>)' })
          .option('split', { choices: ['val', 'test', 'both'] as const, default: 'both' as const, describe: 'which split(s) to evaluate' })
          .option('checkpoint', { choices: ['best', 'last'] as const, default: 'best' as const, describe: 'checkpoints/best (highest val accuracy) or checkpoints/last' })
          .option('out', { type: 'string', describe: 'directory for the report (default: <run>/report)' })
          .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: 'compute backend' })
          .option('examples', { type: 'number', default: DEFAULT_EXAMPLES_PER_CLASS, describe: 'faces per class in the prediction grids' })
          .option('tta', { choices: TTA_CHOICES, default: 'none' as TestTimeAugmentation, describe: "test-time augmentation: flip averages each image with its mirror image; flip-zoom averages six views, as it is and mirrored, each at zoom 1 and 1 ± the run's --zoom" }),
      async (args) => {
        if (!Number.isInteger(args.examples) || args.examples < 1 || args.examples > 50) {
          throw new ConfigError('CONFIG_INVALID', `--examples must be an integer in [1, 50], got ${args.examples}`);
        }
        const summary = await evaluateRun({
          runDir: args.run,
          splits: args.split === 'both' ? ['val', 'test'] : [args.split],
          checkpoint: args.checkpoint,
          ...(args.out !== undefined ? { outDir: args.out } : {}),
          backend: args.backend,
          examplesPerClass: args.examples,
          tta: args.tta,
          log: (line) => process.stdout.write(`${line}\n`),
        });
        process.stdout.write(`report: ${summary.reportFile}\n`);
      },
    )
    .command(
      'predict <photos..>',
      'find the faces in photos and label each with its emotion: boxes, labels, confidences, all seven probabilities, and an annotated copy of each photo',
      (y) =>
        withDetectionFlags(y)
          .positional('photos', { type: 'string', array: true, demandOption: true, describe: 'photo files or directories of photos (JPEG, PNG, BMP, PGM/PPM)' })
          .option('model', { type: 'string', demandOption: true, describe: 'a run directory (runs/<run-id>: its checkpoints/best) or a checkpoint directory (model.json + meta.json)' })
          .option('checkpoint', { choices: ['best', 'last'] as const, default: 'best' as const, describe: "which of a run directory's checkpoints" })
          .option('out', { type: 'string', default: 'predictions', describe: 'directory for the annotated copies (<photo>.annotated.jpg)' })
          .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per photo (JSON Lines) instead of text' }),
      async (args) => {
        exitCode = await runPredict(
          {
            inputs: args.photos,
            model: args.model,
            checkpoint: args.checkpoint,
            outDir: path.resolve(args.out),
            json: args.json,
            ...detectionSettings(args),
          },
          { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) },
        );
      },
    )
    .command(
      'serve',
      'a web page to upload a photo or take one with the camera and see its faces labelled, with an HTTP API (POST /api/predict), /healthz and Prometheus /metrics',
      (y) =>
        withDetectionFlags(y)
          .option('model', { type: 'string', demandOption: true, describe: 'a run directory (runs/<run-id>: its checkpoints/best) or a checkpoint directory' })
          .option('checkpoint', { choices: ['best', 'last'] as const, default: 'best' as const, describe: "which of a run directory's checkpoints" })
          .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
          .option('port', { type: 'number', default: 8080, describe: 'port to listen on (0: any free port)' })
          .option('allow-remote', { type: 'boolean', default: false, describe: 'allow a --host other machines can reach (the app has no authentication)' })
          .option('max-bytes', { type: 'number', default: 10 * 1024 * 1024, describe: 'largest photo accepted, in bytes (413 beyond)' })
          .option('queue', { type: 'number', default: 8, describe: 'photos that may wait while one is predicted (503 beyond)' }),
      async (args) => {
        exitCode = await runServe({
          model: args.model,
          checkpoint: args.checkpoint,
          host: args.host,
          port: requireInteger('port', args.port, 0, 65535),
          allowRemote: args['allow-remote'],
          ...detectionSettings(args),
          maxBytes: requireInteger('max-bytes', args['max-bytes'], 1, 1024 * 1024 * 1024),
          queue: requireInteger('queue', args.queue, 0, 10_000),
          log: (line) => process.stdout.write(`${line}\n`),
        });
      },
    )
    .command(
      'status',
      "a running run's state over the NATS control plane: its world (rank, host, GPU, backend of each worker), step, epoch, latest metrics and ETA",
      (y) =>
        controlFlags(y)
          .option('run', { type: 'string', describe: 'the run id (default: every run that answers)' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts (one object, or a list for several runs)' }),
      async (args) => {
        await statusCommand({ settings: controlSettings(args), runId: args.run, json: args.json, write: (t) => process.stdout.write(t), warn: progress });
      },
    )
    .command(
      'stop',
      'stop a run cleanly at the next step boundary, as Ctrl-C at its coordinator does (checkpoints stay as of the last epoch; continue with coordinator --resume)',
      (y) =>
        controlFlags(y)
          .option('run', { type: 'string', describe: 'the run id (default: the only run that is waiting or training)' })
          .option('token', { type: 'string', describe: "the run's worker token (default: $EMOTRAIN_TOKEN); may be left out when the NATS server authenticates its clients" })
          .option('reason', { type: 'string', describe: 'why, for the run record' })
          .option('json', { type: 'boolean', default: false, describe: 'print the reply as JSON' }),
      async (args) => {
        await stopCommand({
          settings: controlSettings(args), runId: args.run, json: args.json, token: tokenFrom(args.token), reason: args.reason,
          write: (t) => process.stdout.write(t), warn: progress,
        });
      },
    )
    .command(
      'export <run>',
      'write the trained model for other runtimes: ONNX (checked with onnxruntime) or a plain TensorFlow.js layers model',
      (y) =>
        y
          .positional('run', { type: 'string', demandOption: true, describe: 'a run directory (runs/<run-id>) or a checkpoint directory' })
          .option('format', { choices: EXPORT_FORMATS, demandOption: true, describe: 'onnx: one .onnx file; tfjs: model.json + weights.bin + meta.json' })
          .option('out', { type: 'string', describe: 'file (onnx) or directory (tfjs) to write (default: <run>/export/model.onnx or <run>/export/tfjs)' })
          .option('checkpoint', { choices: ['best', 'last'] as const, default: 'best' as const, describe: "which of a run directory's checkpoints" })
          .option('backend', { choices: BACKEND_CHOICES, default: 'auto' as BackendChoice, describe: 'tfjs backend for loading and for the check' }),
      async (args) => {
        await runExport({
          run: args.run,
          format: args.format as ExportFormat,
          checkpoint: args.checkpoint,
          ...(args.out !== undefined ? { out: args.out } : {}),
          backend: args.backend,
          log: (line) => process.stdout.write(`${line}\n`),
        });
      },
    )
    .command(
      'slurm',
      'one task of an srun line (deploy/slurm/emotrain.sbatch): task 0 runs the coordinator and a worker, every other task a worker, each on the GPU Slurm assigned it; coordinator flags go after --',
      (y) =>
        y
          .option('port', { type: 'number', describe: "the coordinator's gRPC port (default: 20000 + job id mod 40000, the same in every task)" })
          .option('coordinator-host', { type: 'string', describe: "the coordinator's node as workers reach it (default: the first node of the step)" })
          .option('backend', { choices: BACKEND_CHOICES, describe: "the workers' compute backend (default: auto)" })
          .option('data-dir', { type: 'string', describe: "each node's copy of the dataset (worker --data-dir)" })
          .option('data-threads', { type: 'number', describe: 'decode-and-augment threads per worker (default: SLURM_CPUS_PER_TASK, else the CPU count)' }),
      async (args) => {
        const task = slurmTask(process.env, { ...(args.port !== undefined ? { port: args.port } : {}), ...(args['coordinator-host'] ? { coordinatorHost: args['coordinator-host'] } : {}) });
        const workerArgs = [
          ...(args.backend ? ['--backend', args.backend] : []),
          ...(args['data-dir'] ? ['--data-dir', args['data-dir']] : []),
          ...(args['data-threads'] !== undefined ? ['--data-threads', String(args['data-threads'])] : []),
        ];
        exitCode = await runSlurmTask({ task, coordinatorArgs: ((args['--'] as unknown[] | undefined) ?? []).map(String), workerArgs, log: progress });
      },
    )
    .demandCommand(1, 'name a command')
    .strict()
    .help()
    .parseAsync();
  return exitCode;
});
