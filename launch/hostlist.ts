// Slurm's hostlist expressions (SLURM_JOB_NODELIST): `gpu[01-03,07],login1,rack[1-2]-n[1-2]`
// expands to the node names in order, keeping the zero padding of each range, as
// `scontrol show hostnames` does. Pure: the launcher only needs the first, the tests check all.

import { LaunchError } from '../shared/errors.js';

/** Splits at the commas that are not inside brackets. */
function topLevelItems(expression: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    if (depth < 0 || depth > 1) throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: unbalanced brackets at character ${i + 1}`);
    if (c === ',' && depth === 0) {
      items.push(expression.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: a '[' is never closed`);
  items.push(expression.slice(start));
  return items;
}

function expandRanges(body: string, expression: string): string[] {
  const out: string[] = [];
  for (const part of body.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!match) throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: ${JSON.stringify(part)} is not a number or a range N-M`);
    const [, from, to] = match;
    const first = Number(from);
    const last = to === undefined ? first : Number(to);
    if (last < first) throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: the range ${part} runs backwards`);
    if (last - first > 100_000) throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: the range ${part} is too large`);
    const width = from!.length;
    for (let n = first; n <= last; n++) out.push(String(n).padStart(width, '0'));
  }
  return out;
}

function expandItem(item: string, expression: string): string[] {
  const open = item.indexOf('[');
  if (open < 0) return [item];
  const close = item.indexOf(']', open);
  const prefix = item.slice(0, open);
  const rest = expandItem(item.slice(close + 1), expression);
  return expandRanges(item.slice(open + 1, close), expression).flatMap((n) => rest.map((r) => `${prefix}${n}${r}`));
}

export function expandHostlist(expression: string): string[] {
  const trimmed = expression.trim();
  if (trimmed === '') throw new LaunchError('LAUNCH_INVALID', 'the hostlist is empty');
  const hosts = topLevelItems(trimmed).flatMap((item) => {
    if (item === '') throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: an empty name between commas`);
    return expandItem(item, trimmed);
  });
  for (const host of hosts) {
    if (!/^[A-Za-z0-9_.\-]+$/.test(host)) throw new LaunchError('LAUNCH_INVALID', `hostlist ${JSON.stringify(expression)}: ${JSON.stringify(host)} is not a host name`);
  }
  return hosts;
}
