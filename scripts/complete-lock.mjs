// The registry this project installs from lacks chdb's other-platform engines, so
// `npm install` leaves them out of package-lock.json and `npm ci` then refuses the lock.
// Run after every `npm install`: gives each missing @chdb/lib-* the entry npm would write.
import { readFileSync, writeFileSync } from 'node:fs';

const PLATFORMS = {
  '@chdb/lib-darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  '@chdb/lib-darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  '@chdb/lib-linux-arm64-gnu': { os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
  '@chdb/lib-linux-x64-gnu': { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
};

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const wanted = lock.packages['node_modules/chdb']?.optionalDependencies ?? {};
let added = 0;
for (const [name, version] of Object.entries(wanted)) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const platform = PLATFORMS[name];
  if (!platform) throw new Error(`complete-lock: unknown chdb platform package ${name}`);
  lock.packages[key] = { version, license: 'Apache-2.0', optional: true, ...platform };
  added++;
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
lock.packages = sorted;
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: ${added} chdb platform entr${added === 1 ? 'y' : 'ies'} added`);
