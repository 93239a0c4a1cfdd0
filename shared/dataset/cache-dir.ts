// Where emotrain keeps what it can rebuild: the generated synthetic set, validation verdicts.
// $EMOTRAIN_CACHE, else $XDG_CACHE_HOME/emotrain, else ~/.cache/emotrain.

import os from 'node:os';
import path from 'node:path';

export function cacheDir(): string {
  const explicit = process.env['EMOTRAIN_CACHE'];
  if (explicit) return path.resolve(explicit);
  const xdg = process.env['XDG_CACHE_HOME'];
  return path.join(xdg ? xdg : path.join(os.homedir(), '.cache'), 'emotrain');
}
