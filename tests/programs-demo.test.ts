import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAMPAIGNS, WINDOW_DAYS } from '../scripts/generate/programs.js';
import { generateStore } from '../scripts/generate/store.js';
import { startTestService, type TestService } from './helpers/service.js';

// The demo store's follow-up campaigns have true effects set by the generator
// (scripts/generate/programs.ts): winback-email raises 30-day conversion from 12% to 15%,
// winback-sms changes nothing (8% either way). Measured through the API on the default demo
// store, each group's Wilson interval must cover its true rate and each uplift interval the
// true uplift; the real uplift is told apart from 0, the null one is not. The truth comes from
// the generator's parameters, not from the service.
const END = '2026-11-01T00:00:00Z';
const IMPACT = `query($campaign: String!) {
  followUpImpact(campaign: $campaign, from: "2020-01-01T00:00:00Z", to: "${END}", windowDays: ${WINDOW_DAYS}, currency: "USD", asOf: "${END}") {
    pending uplift upliftLow upliftHigh
    treated { customers converted conversionRate conversionRateLow conversionRateHigh }
    control { customers converted conversionRate conversionRateLow conversionRateHigh }
  } }`;

describe('the demo store measures its follow-up campaigns (issue 18)', { timeout: 300_000 }, () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('t_programs_demo');
    const lines = [...generateStore({ end: END })].map((e) => JSON.stringify(e));
    for (let i = 0; i < lines.length; i += 20_000) {
      const res = await fetch(`${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: lines.slice(i, i + 20_000).join('\n') });
      const body = (await res.json()) as { rejectedCount: number };
      expect(body.rejectedCount).toBe(0);
    }
  });
  afterAll(async () => {
    await svc?.stop();
  });

  for (const campaign of CAMPAIGNS) {
    it(`${campaign.name}: the intervals cover the true rates and the true uplift`, async () => {
      const r = await svc.gql(IMPACT, { campaign: campaign.name });
      expect(r.errors).toBeUndefined();
      const m = r.data.followUpImpact;
      // Every assignment's window ends before the store does.
      expect(m.pending).toBe(0);
      for (const [group, truth] of [[m.treated, campaign.treatedRate], [m.control, campaign.controlRate]] as const) {
        expect(group.customers).toBeGreaterThan(1000);
        expect(group.conversionRateLow).toBeLessThanOrEqual(truth);
        expect(group.conversionRateHigh).toBeGreaterThanOrEqual(truth);
      }
      const uplift = campaign.treatedRate - campaign.controlRate;
      expect(m.upliftLow).toBeLessThanOrEqual(uplift);
      expect(m.upliftHigh).toBeGreaterThanOrEqual(uplift);
      // A real effect is told apart from none; no effect is not mistaken for one.
      if (uplift > 0) expect(m.upliftLow).toBeGreaterThan(0);
      else expect(m.upliftLow < 0 && m.upliftHigh > 0).toBe(true);
    });
  }
});
