#!/usr/bin/env node
// `emotrain`: the tools around training (SPEC §4): datasets and evaluation reports now; predict and
// serve as they land.

import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_EXAMPLES_PER_CLASS, evaluateRun } from '../evaluate/evaluate-run.js';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { runMain } from '../shared/cli.js';
import { BACKEND_CHOICES, type BackendChoice } from '../shared/config.js';
import { writeSyntheticDataset } from '../shared/dataset/synthetic.js';
import { ConfigError } from '../shared/errors.js';

runMain('emotrain', async () => {
  let exitCode = 0;
  await yargs(hideBin(process.argv))
    .scriptName('emotrain')
    .usage('$0 <command>\n\nDataset tooling, evaluation reports and the emotion-labelling app.')
    .command('dataset', 'dataset tools', (dataset) =>
      dataset
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
            exitCode = 0;
          },
        )
        .demandCommand(1, 'name a dataset command: synth'),
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
          .option('config', { config: true, describe: 'JSON file with any of these flags (flags given on the command line win)' }),
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
          log: (line) => process.stdout.write(`${line}\n`),
        });
        process.stdout.write(`report: ${summary.reportFile}\n`);
        exitCode = 0;
      },
    )
    .demandCommand(1, 'name a command')
    .strict()
    .help()
    .fail((message, error, instance) => {
      // A command's own failure goes to runMain, which prints it as one line with its code; usage
      // is shown only for mistakes on the command line.
      if (error) throw error;
      instance.showHelp();
      throw new ConfigError('CONFIG_INVALID', message);
    })
    .parseAsync();
  return exitCode;
});
