/**
 * WEBHOOK_ALLOWED_HOSTS (README, "Configuration"): the only hosts webhooks may target. An entry is
 * `host` (every port of that host) or `host:port`; names compare case-insensitively, as URLs
 * normalize them. Empty allows nothing, so webhooks are off until an operator names a receiver.
 */
export interface AllowedHosts {
  /** Host names (and bracketed IPv6 literals) allowed on every port. */
  anyPort: ReadonlySet<string>;
  /** `host:port` entries. */
  exact: ReadonlySet<string>;
  /** The entries as configured, for messages. */
  entries: readonly string[];
}

export const NO_HOSTS: AllowedHosts = { anyPort: new Set(), exact: new Set(), entries: [] };

/** Parses the comma-separated list; throws naming the entry that is not a host or host:port. */
export function parseAllowedHosts(raw: string): AllowedHosts {
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  const anyPort = new Set<string>();
  const exact = new Set<string>();
  for (const entry of entries) {
    // The entry must come back as the URL's host unchanged (but for http's default port 80, which
    // the parser drops): a user, a path or a scheme in it would not.
    const url = URL.canParse(`http://${entry}/`) ? new URL(`http://${entry}/`) : undefined;
    const given = entry.toLowerCase();
    if (url === undefined || (url.host !== given && `${url.hostname}:80` !== given)) {
      throw new Error(`"${entry}" is not a host or host:port entry (e.g. hooks.example.com or 127.0.0.1:8080)`);
    }
    if (/:\d+$/.test(given)) exact.add(given);
    else anyPort.add(url.hostname);
  }
  return { anyPort, exact, entries };
}

/** The URL's port, the scheme's default when it names none. */
function portOf(url: URL): string {
  return url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
}

/** Why this URL may not be a webhook target, or undefined when it may. */
export function urlProblem(raw: string, allowed: AllowedHosts): string | undefined {
  if (!URL.canParse(raw)) return `"${raw}" is not a URL`;
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${raw}" is not an http(s) URL`;
  if (url.username !== '' || url.password !== '') return `"${raw}" holds credentials: put them nowhere, the signature authenticates the service`;
  if (allowed.entries.length === 0) return 'no webhook target is allowed: WEBHOOK_ALLOWED_HOSTS is empty (README, "Webhooks")';
  if (allowed.anyPort.has(url.hostname) || allowed.exact.has(`${url.hostname}:${portOf(url)}`)) return undefined;
  return `host "${url.host}" is not in WEBHOOK_ALLOWED_HOSTS (${allowed.entries.join(', ')})`;
}
