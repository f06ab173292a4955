/** Clears the screenshot folder once per e2e run, so every file's screenshots survive the files after it. */
import fs from 'node:fs';
import { SHOTS } from './harness';

export default function setup(): void {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
}
