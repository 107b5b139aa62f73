import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Route } from './app.js';

/**
 * A GraphQL IDE (GraphiQL) served entirely by the service from its own npm packages: a browser
 * opening it makes no request to any other origin, which the content security policy enforces.
 */

interface Asset {
  body: Buffer;
  type: string;
  gzipped?: Buffer;
}

interface Bundle {
  page: string;
  assets: Map<string, Asset>;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const KEY_STORAGE = 'retention-kpi:api-key';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // GraphiQL's components set style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * The example documents: one file each in ide-examples/, in name order, checked against the
 * schema by codegen (codegen.yml) like the client's. The first is the text of a new tab; each
 * of the others opens in a tab of its own. Names and arguments as in kpi-spec.
 */
const EXAMPLES_DIR = fileURLToPath(new URL('./ide-examples/', import.meta.url));

interface Examples {
  defaultQuery: string;
  tabs: { query: string }[];
}

function readExamples(): Examples {
  const [defaultQuery = '', ...others] = readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => readFileSync(join(EXAMPLES_DIR, f), 'utf8'));
  return { defaultQuery, tabs: others.map((query) => ({ query })) };
}

const LAYOUT_CSS = `
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
.kpi-bar { display: flex; align-items: center; gap: 0.75rem; padding: 0.4rem 1rem; border-bottom: 1px solid #d0d4da; font-size: 0.9rem; }
.kpi-bar input { width: 22rem; font: inherit; padding: 0.2rem 0.4rem; }
.kpi-bar small { color: #5b6470; }
#graphiql { flex: 1; min-height: 0; }
`;

// Runs in the browser. A changed key gets a new fetcher, on which GraphiQL loads the schema again.
const clientJs = (examples: Examples): string => `(() => {
  'use strict';
  const input = document.getElementById('api-key');
  input.value = localStorage.getItem(${JSON.stringify(KEY_STORAGE)}) || '';
  const makeFetcher = (key) => async (params, opts) => {
    const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    if (key) headers.authorization = 'Bearer ' + key;
    Object.assign(headers, opts && opts.headers);
    // GraphiQL can send the previous document's operation name for a moment after an edit;
    // a name the text no longer holds would make the server refuse the request.
    const body = params.operationName && !params.query.includes(params.operationName) ? { ...params, operationName: undefined } : params;
    const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify(body) });
    return res.json();
  };
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  const render = () => {
    const key = input.value.trim();
    root.render(React.createElement(GraphiQL, {
      fetcher: makeFetcher(key),
      defaultQuery: ${JSON.stringify(examples.defaultQuery)},
      defaultTabs: ${JSON.stringify(examples.tabs)},
    }, React.createElement(GraphiQL.Logo, null, 'Retention KPI')));
  };
  input.addEventListener('change', () => {
    const key = input.value.trim();
    if (key) localStorage.setItem(${JSON.stringify(KEY_STORAGE)}, key);
    else localStorage.removeItem(${JSON.stringify(KEY_STORAGE)});
    render();
  });
  render();
})();
`;

const require = createRequire(import.meta.url);

function packageFile(pkg: string, file: string): Buffer {
  return readFileSync(join(dirname(require.resolve(`${pkg}/package.json`)), file));
}

function buildBundle(keyed: boolean): Bundle {
  const files: [string, Asset][] = [
    ['react.js', { body: packageFile('react', 'umd/react.production.min.js'), type: JS }],
    ['react-dom.js', { body: packageFile('react-dom', 'umd/react-dom.production.min.js'), type: JS }],
    ['graphiql.js', { body: packageFile('graphiql', 'graphiql.min.js'), type: JS }],
    ['graphiql.css', { body: packageFile('graphiql', 'graphiql.min.css'), type: CSS }],
    ['ide.css', { body: Buffer.from(LAYOUT_CSS), type: CSS }],
    ['ide.js', { body: Buffer.from(clientJs(readExamples())), type: JS }],
  ];
  // The version in the path lets browsers keep assets for a year and still see every upgrade.
  const hash = createHash('sha256');
  for (const [, a] of files) hash.update(a.body);
  const prefix = `/ide/${hash.digest('hex').slice(0, 16)}/`;
  const assets = new Map(files.map(([name, a]) => [prefix + name, a]));
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Retention KPI · GraphQL IDE</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${prefix}graphiql.css">
<link rel="stylesheet" href="${prefix}ide.css">
</head>
<body>
<header class="kpi-bar">
<label for="api-key">API key</label>
<input id="api-key" type="password" autocomplete="off" spellcheck="false" placeholder="${keyed ? 'required: a key with the read scope' : 'not needed: this service runs without keys'}">
<small>Sent as "Authorization: Bearer …" and remembered in this browser.</small>
</header>
<div id="graphiql">Loading…</div>
<script src="${prefix}react.js"></script>
<script src="${prefix}react-dom.js"></script>
<script src="${prefix}graphiql.js"></script>
<script src="${prefix}ide.js"></script>
</body>
</html>
`;
  return { page, assets };
}

/** Browsers navigating to /graphql get the IDE; API clients, whose Accept ranks JSON at least as high, get GraphQL. */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = accept.split(',').map((part) => {
    const [range = '', ...params] = part.toLowerCase().split(';').map((s) => s.trim());
    const q = params.find((p) => p.startsWith('q='));
    return { range, q: q === undefined ? 1 : Number(q.slice(2)) };
  });
  const quality = (type: string): number => {
    const match =
      ranges.find((r) => r.range === type) ??
      ranges.find((r) => r.range === `${type.split('/')[0]}/*`) ??
      ranges.find((r) => r.range === '*/*');
    return match !== undefined && Number.isFinite(match.q) ? match.q : 0;
  };
  const html = quality('text/html');
  return html > 0 && html > Math.max(quality('application/json'), quality('application/graphql-response+json'));
}

function acceptsGzip(req: IncomingMessage): boolean {
  return /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
}

/** The page and its assets hold no data, so they need no key. Files are read on first use: a missing IDE must not stop the service. */
export function ideRoute(keyed: boolean): Route {
  let bundle: Bundle | undefined;
  return (req, res, { url }) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname.startsWith('/ide/')) {
      bundle ??= buildBundle(keyed);
      const asset = bundle.assets.get(url.pathname);
      if (asset === undefined) return false;
      const gzip = acceptsGzip(req);
      const body = gzip ? (asset.gzipped ??= gzipSync(asset.body)) : asset.body;
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': body.length,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
        vary: 'accept-encoding',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      res.end(body);
      return true;
    }
    const isPage =
      url.pathname === '/' ||
      (url.pathname === '/graphql' && !url.searchParams.has('query') && prefersHtml(req.headers.accept));
    if (!isPage) return false;
    bundle ??= buildBundle(keyed);
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(bundle.page),
      'cache-control': 'no-cache',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      vary: 'accept',
    });
    res.end(bundle.page);
    return true;
  };
}
