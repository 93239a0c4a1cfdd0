// The repository root, found from the calling file whether it runs from source or from dist/: the
// place proto/ and the thread tasks are found relative to.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  let dir = path.dirname(here);
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find package.json above ${here}`);
    dir = parent;
  }
  return dir;
}
