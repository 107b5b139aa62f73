import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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

/**
 * `API_KEYS` is a comma-separated list of `name:scope[+scope]:secret`, where the secret is
 * either `sha256:<64 hex>` (preferred: the plain key never touches the config) or the
 * plain key, which is hashed at load and dropped.
 */
export function parseApiKeys(spec: string): ApiKey[] {
  const keys: ApiKey[] = [];
  for (const [i, entry] of spec.split(',').map((s) => s.trim()).entries()) {
    if (entry === '') continue;
    const parts = entry.split(':');
    if (parts.length < 3) throw new Error(`entry ${i + 1} is not name:scopes:key`);
    const [name, scopeList, ...rest] = parts;
    const secret = rest.join(':');
    const scopes = new Set<Scope>();
    for (const s of scopeList!.split('+')) {
      if (!(SCOPES as readonly string[]).includes(s)) {
        throw new Error(`entry ${i + 1} (${name}) has unknown scope "${s}" (known: ${SCOPES.join(', ')})`);
      }
      scopes.add(s as Scope);
    }
    let hash: Buffer;
    if (secret.startsWith('sha256:')) {
      const hex = secret.slice(7);
      if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`entry ${i + 1} (${name}) has a malformed sha256 hash`);
      hash = Buffer.from(hex, 'hex');
    } else {
      if (secret.length < 16) throw new Error(`entry ${i + 1} (${name}) has a key shorter than 16 characters`);
      hash = hashKey(secret);
    }
    keys.push({ name: name!, scopes, hash });
  }
  return keys;
}

export type AuthResult =
  | { ok: true; key: ApiKey | undefined }
  | { ok: false; status: 401 | 403; message: string };

/** Scopes a key effectively holds: admin implies everything. */
export function hasScope(key: ApiKey, scope: Scope): boolean {
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
