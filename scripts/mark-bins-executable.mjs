// The last step of `npm run build`: the package's commands (package.json "bin", e.g. cm-admin)
// made executable. tsc writes them 0644, and npm marks a bin executable only when it installs
// the package, which in a fresh checkout is before the first build: `npx cm-admin` then answered
// "Permission denied".
import { chmodSync, readFileSync } from 'node:fs';

const { bin = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
for (const path of Object.values(bin)) chmodSync(path, 0o755);
