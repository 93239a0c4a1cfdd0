// Pieces every command line shares: flag groups, environment fallbacks, and turning an error into
// a one-line message and an exit code at the very top (never deep in library code).

import type { Argv } from 'yargs';
import { describeError, EmotrainError } from './errors.js';
import { STUDY_AUGMENTATION, type AugmentationSettings } from './image/augmentation.js';

/** The token from --token or EMOTRAIN_TOKEN. */
export function tokenFrom(flag: string | undefined): string | undefined {
  const token = flag ?? process.env['EMOTRAIN_TOKEN'];
  return token === undefined || token === '' ? undefined : token;
}

/** Runs a command's main function; prints a failure as `<program>: <message>` and exits non-zero. */
export function runMain(program: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const code = error instanceof EmotrainError ? ` [${error.code}]` : '';
      process.stderr.write(`${program}: ${describeError(error)}${code}\n`);
      if (!(error instanceof EmotrainError) && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      process.exitCode = 1;
    },
  );
}

/** --flip, --rotation, --zoom, --translate (Keras factors; defaults: the study's), for every command that augments. */
export function withAugmentationFlags<T>(y: Argv<T>, group?: string) {
  return y
    .option('flip', { type: 'number', default: STUDY_AUGMENTATION.flip, group, describe: 'probability of a horizontal mirror image (Keras RandomFlip)' })
    .option('rotation', { type: 'number', default: STUDY_AUGMENTATION.rotation, group, describe: 'RandomRotation factor: a fraction of a full turn (0.2: ±72°)' })
    .option('zoom', { type: 'number', default: STUDY_AUGMENTATION.zoom, group, describe: 'RandomZoom factor (0.2: zoom values in [0.8, 1.2])' })
    .option('translate', { type: 'number', default: STUDY_AUGMENTATION.translate, group, describe: 'RandomTranslation factor of height and width (0.1: shifts up to 10%)' });
}

export function augmentationFrom(argv: { flip: number; rotation: number; zoom: number; translate: number }): AugmentationSettings {
  return { flip: argv.flip, rotation: argv.rotation, zoom: argv.zoom, translate: argv.translate };
}
