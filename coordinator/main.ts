#!/usr/bin/env node
// `coordinator`: one per run (SPEC §2, §4).
//   coordinator --gpus 2 --epochs 50                      the reference recipe
//   coordinator --gpus 2 --epochs 3 --dataset synthetic --model small-cnn --image-size 64
//   coordinator --gpus 0 --workers 4 --listen 0.0.0.0:50051 --token $T
//   coordinator --resume runs/<run-id>
//   coordinator --gpus 0 --workers 4 --listen 0.0.0.0:50051 --nats nats://host:4222   (workers: worker --nats ...)

import { hideBin } from 'yargs/helpers';
import { explicitFlags, runMain } from '../shared/cli.js';
import { coordinatorOptionsOf, parseCoordinatorArgs, runConfigOf } from './command-line.js';
import { describeSettings } from './run-flags.js';
import { runCoordinator } from './coordinator.js';

runMain('coordinator', async () => {
  const args = hideBin(process.argv);
  const { argv, explicit } = parseCoordinatorArgs(args);
  if (argv['print-config']) {
    const fromCommandLine = explicitFlags(args);
    const fromFile = new Set([...explicit].filter((flag) => !fromCommandLine.has(flag)));
    process.stdout.write(describeSettings(runConfigOf(argv), fromCommandLine, fromFile));
    return 0;
  }
  return runCoordinator(coordinatorOptionsOf(argv, explicit));
});
