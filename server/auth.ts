import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';

export const SCOPES = ['read', 'ingest', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  name: string;
  scopes: Set<Scope>;
  /** sha256 of the secret; the secret itself is never kept. */
  hash: Buffer;
}

export function hashKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function generateKey(): { secret: string; hash: string } {
  const secret = `kpi_${randomBytes(24).toString('base64url')}`;
  return { secret, hash: hashKey(secret).toString('hex') };
}

const ENTRY_FORMAT = 'name:scope[+scope]:sha256:<hex> (or name:scope[+scope]:<plain key>)';

/**
 * `API_KEYS` is a comma-separated list of `name:scope[+scope]:secret`, where the secret is
 * either `sha256:<64 hex>` (preferred: the plain key never touches the config) or the
 * plain key, which is hashed at load and dropped. Names are unique and each key appears
 * once: a second entry for the same key would silently never match, since the first wins.
 */
export function parseApiKeys(spec: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const label = (i: number, name: string) => `entry ${i + 1} (${name})`;
  const positions: number[] = [];
  for (const [i, entry] of spec.split(',').map((s) => s.trim()).entries()) {
    if (entry === '') continue;
    const parts = entry.split(':');
    if (parts.length < 3) throw new Error(`entry ${i + 1} is not ${ENTRY_FORMAT}`);
    const [name, scopeList, ...rest] = parts;
    if (name!.trim() === '') throw new Error(`entry ${i + 1} has an empty name: write ${ENTRY_FORMAT}`);
    const secret = rest.join(':');
    const scopes = new Set<Scope>();
    for (const s of scopeList!.split('+')) {
      if (!(SCOPES as readonly string[]).includes(s)) {
        throw new Error(`${label(i, name!)} has unknown scope "${s}" (known: ${SCOPES.join(', ')})`);
      }
      scopes.add(s as Scope);
    }
    let hash: Buffer;
    if (secret.startsWith('sha256:')) {
      const hex = secret.slice(7);
      if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`${label(i, name!)} has a malformed sha256 hash`);
      hash = Buffer.from(hex, 'hex');
    } else {
      if (secret.length < 16) throw new Error(`${label(i, name!)} has a key shorter than 16 characters`);
      hash = hashKey(secret);
    }
    for (const [j, other] of keys.entries()) {
      const first = label(positions[j]!, other.name);
      if (other.name === name) throw new Error(`${first} and entry ${i + 1} have the same name: names must be unique`);
      if (other.hash.equals(hash)) {
        throw new Error(`${first} and ${label(i, name!)} hold the same key: list each key once, with all its scopes joined by "+"`);
      }
    }
    keys.push({ name: name!, scopes, hash });
    positions.push(i);
  }
  return keys;
}

/**
 * Without keys the service is open on loopback, so a web page could reach it through DNS
 * rebinding (its own name resolved to 127.0.0.1). Such requests carry the page's name in
 * `Host`: accepting only loopback names closes that door. Missing or malformed counts as foreign.
 */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) return false;
  let url: URL;
  try {
    url = new URL(`http://${host}`);
  } catch {
    return false;
  }
  // The WHATWG parser lower-cases names and normalises IP literals (127.1, [0::1]).
  const name = url.hostname;
  return name === 'localhost' || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'));
}

export type AuthResult =
  | { ok: true; key: ApiKey | undefined }
  | { ok: false; status: 401 | 403; message: string };

/** Scopes a key effectively holds: admin implies everything. */
export function hasScope(key: { scopes: ReadonlySet<string> }, scope: Scope): boolean {
  return key.scopes.has('admin') || key.scopes.has(scope);
}

/**
 * Finds the key a request presents. Compares against every configured key in constant time
 * per key, and always against all of them, so timing reveals neither which keys exist nor
 * how far a guess matched. `null`: no keys are configured (open loopback service).
 */
export function identify(keys: ApiKey[], authorization: string | undefined): ApiKey | null | 'missing' | 'invalid' {
  if (keys.length === 0) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) return 'missing';
  const presented = hashKey(m[1]!);
  let found: ApiKey | undefined;
  for (const k of keys) {
    if (timingSafeEqual(k.hash, presented) && found === undefined) found = k;
  }
  return found ?? 'invalid';
}

export function authenticate(keys: ApiKey[], authorization: string | undefined, scope: Scope): AuthResult {
  const key = identify(keys, authorization);
  if (key === null) return { ok: true, key: undefined };
  if (key === 'missing') return { ok: false, status: 401, message: 'Missing or malformed API key: send "Authorization: Bearer <key>"' };
  if (key === 'invalid') return { ok: false, status: 401, message: 'Invalid API key' };
  if (!hasScope(key, scope)) return { ok: false, status: 403, message: `This API key lacks the "${scope}" scope` };
  return { ok: true, key };
}
