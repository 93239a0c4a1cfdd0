// Pieces every command line shares: flag groups, environment fallbacks, and turning an error into
// a one-line message and an exit code at the very top (never deep in library code).

import { describeError, EmotrainError } from './errors.js';

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
