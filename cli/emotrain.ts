#!/usr/bin/env node
// `emotrain`: the tools around training (SPEC §4): datasets now; evaluate, predict and serve as
// they land.

import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EMOTION_CLASSES } from '../shared/classes.js';
import { runMain } from '../shared/cli.js';
import { writeSyntheticDataset } from '../shared/dataset/synthetic.js';

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
    .demandCommand(1, 'name a command')
    .strict()
    .help()
    .parseAsync();
  return exitCode;
});
