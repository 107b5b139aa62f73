import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefersHtml } from '../server/ide.js';
import { prerequisite } from './helpers/prerequisite.js';
import { startTestService, type TestService } from './helpers/service.js';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = prerequisite(existsSync(CHROMIUM), CHROMIUM, 'apt-get install chromium');

const SECRET = 'ide-test-secret-0123456789';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLES_DIR = join(ROOT, 'server/ide-examples');

function assetPaths(page: string): string[] {
  return [...page.matchAll(/(?:src|href)="(\/ide\/[^"]+)"/g)].map((m) => m[1]!);
}

describe('GraphQL IDE', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_ide', { API_KEYS: `ide:read:${SECRET}` });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('tells browsers from API clients by their Accept header', () => {
    expect(prefersHtml(BROWSER_ACCEPT)).toBe(true);
    expect(prefersHtml('text/html')).toBe(true);
    expect(prefersHtml(undefined)).toBe(false);
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml('application/json')).toBe(false);
    expect(prefersHtml('application/graphql-response+json, application/json;q=0.9')).toBe(false);
    expect(prefersHtml('text/html;q=0.5, application/json')).toBe(false);
    expect(prefersHtml('text/html;q=0')).toBe(false);
  });

  it('serves the page without a key at / and to browsers at /graphql', async () => {
    for (const [path, accept] of [['/', '*/*'], ['/graphql', BROWSER_ACCEPT]] as const) {
      const res = await fetch(`${svc.url}${path}`, { headers: { accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      const page = await res.text();
      expect(page).toContain('id="api-key"');
      expect(page).toContain('placeholder="required: a key with the read scope"');
      expect(page).not.toMatch(/https?:\/\//);
      expect(assetPaths(page)).toHaveLength(6);
    }
  });

  it('leaves GraphQL requests on GET /graphql to GraphQL', async () => {
    const res = await fetch(`${svc.url}/graphql?query=${encodeURIComponent('{ storageVersion }')}`, {
      headers: { accept: BROWSER_ACCEPT, 'apollo-require-preflight': 'true', authorization: `Bearer ${SECRET}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { storageVersion: svc.storage.version } });
    const api = await fetch(`${svc.url}/graphql`, { headers: { accept: 'application/json' } });
    expect(api.headers.get('content-type')).not.toContain('text/html');
    expect(api.status).toBe(401);
  });

  it('offers the documents of server/ide-examples, each valid against the schema and answered without errors', async () => {
    const schema = buildSchema(readFileSync(join(ROOT, 'schema/schema.graphql'), 'utf8'));
    const files = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.graphql')).sort();
    expect(files.length).toBeGreaterThan(1);
    const texts = files.map((f) => readFileSync(join(EXAMPLES_DIR, f), 'utf8'));
    const names = new Set<string>();
    for (const [i, text] of texts.entries()) {
      const doc = parse(text);
      expect(validate(schema, doc), files[i]).toEqual([]);
      const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      expect(ops, files[i]).toHaveLength(1);
      // Named apart from the client's operations, which codegen types in the same file.
      expect(ops[0]!.name?.value, files[i]).toMatch(/^Example[A-Z]/);
      names.add(ops[0]!.name!.value);
      const answer = await svc.gql(text, undefined, { authorization: `Bearer ${SECRET}` });
      expect(answer.errors, `${files[i]}: ${JSON.stringify(answer.errors)}`).toBeUndefined();
    }
    expect(names.size).toBe(files.length);
    // The IDE's script carries them as they are: the first as a new tab's text, the others as tabs.
    const page = await (await fetch(`${svc.url}/`)).text();
    const script = await (await fetch(`${svc.url}${assetPaths(page).find((p) => p.endsWith('/ide.js'))!}`)).text();
    expect(script).toContain(`defaultQuery: ${JSON.stringify(texts[0])},`);
    expect(script).toContain(`defaultTabs: ${JSON.stringify(texts.slice(1).map((query) => ({ query })))},`);
  });

  it('serves every asset itself, with its content type and a year of caching', async () => {
    const page = await (await fetch(`${svc.url}/`)).text();
    const types: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
    for (const path of assetPaths(page)) {
      const res = await fetch(`${svc.url}${path}`, { headers: { 'accept-encoding': 'identity' } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe(types[path.split('.').pop()!]);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-encoding')).toBeNull();
      const plain = await res.text();
      expect(plain.length).toBeGreaterThan(100);
      const zipped = await fetch(`${svc.url}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(zipped.headers.get('content-encoding')).toBe('gzip');
      expect(await zipped.text()).toBe(plain);
    }
    const missing = await fetch(`${svc.url}/ide/0000000000000000/graphiql.js`);
    expect(missing.status).toBe(404);
  });

  describe.skipIf(!HAS_CHROMIUM)('in a headless browser', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('runs a query typed into the IDE, with the key from its field, fetching nothing from elsewhere', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const requested: string[] = [];
      const problems: string[] = [];
      const sentKeys: (string | undefined)[] = [];
      page.on('request', (r) => {
        requested.push(r.url());
        if (r.method() === 'POST' && new URL(r.url()).pathname === '/graphql') sentKeys.push(r.headers()['authorization']);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });

      await page.goto(`${svc.url}/graphql`);
      await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
      await expect(page.locator('.graphiql-tab').allInnerTexts()).resolves.toEqual(['ExampleRepeatPurchaseRate', 'ExampleRetentionCohorts', 'ExampleNps']);

      await page.fill('#api-key', SECRET);
      // A new key reloads the schema, which re-renders the editors: type once that is done.
      const schemaLoaded = page.waitForResponse((r) => new URL(r.url()).pathname === '/graphql' && r.status() === 200);
      await page.press('#api-key', 'Enter');
      await schemaLoaded;
      const editor = page.locator('.graphiql-query-editor .CodeMirror');
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Delete');
      await page.keyboard.type('{ storageVersion }');
      const typed = () => editor.evaluate((el) => (el as unknown as { CodeMirror: { getValue(): string } }).CodeMirror.getValue());
      await expect.poll(typed).toBe('{ storageVersion }');
      await page.locator('.graphiql-execute-button').click();
      const response = page.locator('.graphiql-response');
      await expect.poll(() => response.innerText(), { timeout: 20_000 }).toContain('"storageVersion"');
      expect(await response.innerText()).toContain(`"${svc.storage.version}"`);
      expect(sentKeys.at(-1)).toBe(`Bearer ${SECRET}`);

      await page.reload();
      await expect(page.locator('#api-key').inputValue()).resolves.toBe(SECRET);

      const elsewhere = requested.filter((u) => !u.startsWith('data:') && new URL(u).origin !== svc.url);
      expect(elsewhere).toEqual([]);
      expect(requested.filter((u) => u.includes('/ide/'))).not.toHaveLength(0);
      // Before the key was entered the schema request was refused: that 401 is the one expected error.
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
      await context.close();
    });
  });
});

describe('GraphQL IDE of an open service', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_ide');
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('says the key box is not needed', async () => {
    const page = await (await fetch(`${svc.url}/`)).text();
    expect(page).toContain('placeholder="not needed: this service runs without keys"');
  });
});
