// `npm start`'s first step: builds (npm run build) only when a source is newer than the last
// build's output, so a start on a built tree is serving within a second or two instead of
// regenerating the proto types and type-checking everything again.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['common', 'core', 'gateway', 'workers', 'bin', 'bench', 'proto'];
const FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];
const OUTPUT = 'dist/bin/embedded.js';

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return /\.(ts|proto|json)$/.test(path) ? stat.mtimeMs : 0;
  return readdirSync(path)
    .filter((name) => name !== 'gen')
    .reduce((latest, name) => Math.max(latest, newest(join(path, name))), 0);
}

function built() {
  try {
    return statSync(OUTPUT).mtimeMs;
  } catch {
    return -1;
  }
}

const sources = Math.max(...SOURCES.map(newest), ...FILES.map((f) => statSync(f).mtimeMs));
if (built() < sources) {
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}
