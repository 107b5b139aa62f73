import { parseArgs } from 'node:util';
import { generateKey, SCOPES } from '../server/auth.js';

const USAGE = `Usage: npm run key -- --name <name> --scopes <scope[+scope]>   (scopes: ${SCOPES.join(', ')})`;

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

let options: { name?: string; scopes?: string };
try {
  options = parseArgs({ options: { name: { type: 'string' }, scopes: { type: 'string' } } }).values;
} catch (e) {
  fail(`${(e as Error).message}\n${USAGE}`);
}
const { name, scopes } = options;
if (name === undefined || scopes === undefined) fail(USAGE);
// The entry sits in a list separated by "," whose fields are separated by ":".
if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) fail(`--name "${name}" may hold only letters, digits, "_", "." and "-" (up to 64).`);
for (const scope of scopes.split('+')) {
  if (!(SCOPES as readonly string[]).includes(scope)) fail(`Unknown scope "${scope}": use ${SCOPES.join(', ')}, joined with "+".`);
}

const { secret, hash } = generateKey();
console.log(`API key for "${name}" (shown only now: store it, it cannot be recovered from the entry below):

  ${secret}

Its API_KEYS entry (holds only the sha256 hash; separate several entries with ","):

  ${name}:${scopes}:sha256:${hash}
`);
