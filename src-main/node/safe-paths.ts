/**
 * Containment checks for paths that come from files (a bundle, a model.json, a database row): a
 * path is inside a folder only if it still is after `..` is resolved and every symlink on the way
 * is followed (fs.realpath), so neither `a/../../x` nor a symlinked folder can reach outside.
 */
import fs from 'node:fs';
import path from 'node:path';

/** True when `child` is `parent` itself or below it (both already absolute and normalised). */
export function isWithin(parent: string, child: string, opts: { allowSelf?: boolean } = {}): boolean {
  const rel = path.relative(parent, child);
  if (rel === '') return opts.allowSelf === true;
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The real path of `p` (symlinks followed). For a path that does not exist (yet), the real path of
 * its nearest existing ancestor with the rest appended, so a missing file inside a symlinked folder
 * still resolves to where it would be written.
 */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(cur);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === cur) return abs;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/**
 * Whether `p` really lies below `root` (strictly: `root` itself is not inside), with both followed
 * through symlinks. Returns the real path when it does.
 * @example realPathInside('/home/u/.topiary/runs/abc', '/home/u/.topiary/runs/abc/export/model.tflite')
 */
export function realPathInside(root: string, p: string): { inside: boolean; real: string } {
  const real = realPathOf(p);
  return { inside: isWithin(realPathOf(root), real), real };
}
