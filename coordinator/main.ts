#!/usr/bin/env node
// `coordinator`: one per run (SPEC §2, §4).
//   coordinator --gpus 2 --epochs 50                      the reference recipe
//   coordinator --gpus 2 --epochs 3 --dataset synthetic --model small-cnn --image-size 64
//   coordinator --gpus 0 --workers 4 --listen 0.0.0.0:50051 --token $T
//   coordinator --resume runs/<run-id>
//   coordinator --gpus 0 --workers 4 --listen 0.0.0.0:50051 --nats nats://host:4222   (workers: worker --nats ...)

import { hideBin } from 'yargs/helpers';
import { runMain } from '../shared/cli.js';
import { coordinatorOptionsOf, parseCoordinatorArgs } from './command-line.js';
import { runCoordinator } from './coordinator.js';

runMain('coordinator', async () => {
  const { argv, explicit } = parseCoordinatorArgs(hideBin(process.argv));
  return runCoordinator(coordinatorOptionsOf(argv, explicit));
});
