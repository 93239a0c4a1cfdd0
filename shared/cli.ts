// Pieces every command line shares: flag groups, environment fallbacks, and turning an error into
// a one-line message and an exit code at the very top (never deep in library code).

import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, describeError, EmotrainError } from './errors.js';
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

/**
 * Reads a --config file: YAML or JSON (JSON is YAML), one mapping of flags to values. A missing
 * file and a broken one each get their own message (yargs would call both "Invalid JSON config file").
 */
export function loadConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a directory, not a file' : `cannot read it (${(cause as Error).message})`;
    throw new ConfigError('CONFIG_INVALID', `--config ${file}: ${why}`, { cause });
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const error = document.errors[0];
  if (error) {
    const at = lines.linePos(error.pos[0]);
    const where = `line ${at.line}, column ${at.col}`;
    throw new ConfigError('CONFIG_INVALID', `--config ${file}: not valid YAML or JSON at ${where}: ${error.message.split('\n')[0]}`, { cause: error });
  }
  const value: unknown = document.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError('CONFIG_INVALID', `--config ${file}: expected a mapping of flags to values (e.g. "epochs: 5"), got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Edit distance (insertions, deletions, substitutions) between two flag names. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known flag closest to a mistyped one, when it is close enough to be what was meant. */
export function closestFlag(name: string, known: Iterable<string>): string | undefined {
  let best: { flag: string; distance: number } | undefined;
  for (const flag of known) {
    const distance = editDistance(name, flag);
    if (!best || distance < best.distance) best = { flag, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.flag : undefined;
}

/** yargs' "Unknown argument(s): a, b" as one line per flag with a suggestion: "Unknown argument --epoch: did you mean --epochs?". */
export function usageMessage(message: string, known: Iterable<string>): string {
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (!unknown) return `${message} (--help lists the options)`;
  const names = [...known].filter((name) => name.length > 1 && !/[A-Z]/.test(name));
  return unknown[1]!
    .split(', ')
    .map((name) => {
      const flag = name.length === 1 ? `-${name}` : `--${name}`;
      const suggestion = closestFlag(name, names);
      return `Unknown argument ${flag}: ${suggestion ? `did you mean --${suggestion}?` : 'see --help for the options'}`;
    })
    .join('; ');
}

const CONFIG_DESCRIPTION = 'YAML or JSON file with any of these flags (flags given on the command line win)';

/**
 * --config FILE (YAML or JSON) and one-line usage errors for a command line: `mapKeys` turns the
 * file's keys into flags (the coordinator accepts a run's config.json), and `seen` collects them,
 * so a caller can tell the flags that were given from yargs' defaults (explicitFlags).
 */
export function withConfigFile<T>(y: Argv<T>, options: { group?: string; mapKeys?: (values: Record<string, unknown>) => Record<string, unknown>; seen?: Set<string> } = {}) {
  return y
    .option('config', { type: 'string', group: options.group })
    .config('config', CONFIG_DESCRIPTION, (file: string) => {
      const values = (options.mapKeys ?? ((v) => v))(loadConfigFile(file));
      for (const key of Object.keys(values)) options.seen?.add(kebabCase(key));
      return asFlagTypes(values, y);
    })
    .showHelpOnFail(false)
    .fail((message, error) => {
      // yargs passes on what --config's loader threw as an error of its own with the same message.
      if (error) throw !(error instanceof EmotrainError) && error.message.startsWith('--config ') ? new ConfigError('CONFIG_INVALID', error.message) : error;
      throw new ConfigError('CONFIG_INVALID', usageMessage(message, knownFlags(y)));
    });
}

/**
 * yargs takes a config file's values as they are, but YAML reads `freeze: 40` as a number and
 * `run-id: 123` too: a value is turned into the type its flag has, as on the command line.
 */
function asFlagTypes(values: Record<string, unknown>, y: Argv<unknown>): Record<string, unknown> {
  const types = (y as unknown as { getOptions(): { string: string[]; number: string[] } }).getOptions();
  const strings = new Set(types.string);
  const numbers = new Set(types.number);
  const convert = (flag: string, value: unknown): unknown => {
    if (Array.isArray(value)) return value.map((v) => convert(flag, v));
    if (strings.has(flag) && (typeof value === 'number' || typeof value === 'boolean')) return String(value);
    if (numbers.has(flag) && typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
    return value;
  };
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, convert(kebabCase(key), value)]));
}

/** The options yargs knows at this point (the command's own included); getOptions is untyped in @types/yargs. */
function knownFlags(y: Argv<unknown>): string[] {
  return Object.keys((y as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
}

function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/**
 * The flags given on the command line or in --config (`fromConfig`), in kebab-case, as opposed to
 * yargs' defaults: `--no-augment` counts as augment, `--lr=0.5` as lr.
 */
export function explicitFlags(args: readonly string[], fromConfig: Iterable<string> = []): Set<string> {
  const given = new Set<string>(fromConfig);
  for (const arg of args) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const name = kebabCase(arg.slice(2).split('=')[0]!);
    given.add(name.startsWith('no-') ? name.slice(3) : name);
  }
  return given;
}
