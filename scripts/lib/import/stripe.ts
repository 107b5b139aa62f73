// Stripe's Payments export CSV (Dashboard > Payments > Export): one row per charge, `id`
// (ch_… or py_…), `Created (UTC)` like `2024-03-01 14:30`, `Amount` and `Amount Refunded` in
// the currency's major units as the Dashboard shows them (¥1000 is 1000, $10 is 10.00; a
// decimal comma in some locales), `Currency` lower-case, `Status` (Paid, Refunded, Failed, …),
// `Captured` true/false, `Mode` Live/Test. Rules (docs/importing.md, "Stripe"): captured live
// payments make a purchase, Amount Refunded a refund at the payment's own time; failed,
// uncaptured and test payments are skipped.
import { cell, columns, customerOf, type ImportedEvent, type ImportOptions, type RowMapper, type RowOutcome } from './source.js';
import { atLeast, parseAmount, parseTimestamp, positive } from './values.js';

const REQUIRED = ['id', 'Created (UTC)', 'Amount', 'Currency', 'Status'] as const;
const OPTIONAL = ['Amount Refunded', 'Captured', 'Customer ID', 'Customer Email', 'Mode'] as const;

/** Money was taken (a dispute does not undo the charge until it is lost, and then Stripe books a refund-like dispute, not a refund). */
const TAKEN = new Set(['paid', 'succeeded', 'refunded', 'partially refunded', 'disputed']);
const NOT_TAKEN = new Set(['failed', 'canceled', 'cancelled', 'blocked', 'incomplete', 'uncaptured', 'pending', 'requires payment method', 'requires action', 'expired']);

export function stripeMapper(file: string, header: string[], options: ImportOptions): RowMapper {
  const at = columns('Stripe Payments', file, header, REQUIRED, OPTIONAL);
  return {
    map(cells): RowOutcome {
      const id = cell(cells, at.id);
      if (id === '') return { rejected: ['id: is empty'], eventId: null };
      const eventId = `stripe:${id}`;
      if (cell(cells, at.Mode).toLowerCase() === 'test') return { skipped: 'test payment (Mode Test)' };
      const status = cell(cells, at.Status).toLowerCase().replace(/_/g, ' ');
      if (NOT_TAKEN.has(status)) return { skipped: `status ${status}` };
      if (!TAKEN.has(status)) return { rejected: [`Status: unknown value ${JSON.stringify(cell(cells, at.Status))} (known: ${[...TAKEN, ...NOT_TAKEN].join(', ')})`], eventId };
      if (cell(cells, at.Captured).toLowerCase() === 'false') return { skipped: 'not captured' };

      const errors: string[] = [];
      const customer = customerOf(
        options,
        { value: cell(cells, at['Customer ID']), column: 'Customer ID' },
        { value: cell(cells, at['Customer Email']), column: 'Customer Email' },
        'no Customer ID nor Customer Email: the payment names no customer',
      );
      if ('error' in customer) errors.push(customer.error);
      const occurredAt = parseTimestamp(cell(cells, at['Created (UTC)']), 'Z', options.dateOrder);
      if ('error' in occurredAt) errors.push(`Created (UTC): ${occurredAt.error}`);
      const amount = parseAmount(cell(cells, at.Amount), options.decimal);
      if ('error' in amount) errors.push(`Amount: ${amount.error}`);
      const refundedText = cell(cells, at['Amount Refunded']);
      const refunded = refundedText === '' ? { ok: '0' } : parseAmount(refundedText, options.decimal);
      if ('error' in refunded) errors.push(`Amount Refunded: ${refunded.error}`);
      if ('error' in customer || 'error' in occurredAt || 'error' in amount || 'error' in refunded) return { rejected: errors, eventId };

      const currency = cell(cells, at.Currency).toUpperCase();
      const base = { customerId: customer.ok, occurredAt: occurredAt.ok, currency, orderId: id };
      const events: ImportedEvent[] = [{ type: 'purchase', eventId, ...base, amount: amount.ok }];
      // A "Refunded" row of an export without Amount Refunded was refunded in full. A full refund
      // has an eventId of its own, so a later export showing in full a payment an earlier one
      // showed partly refunded still cancels it (the two refunds then add up past its amount).
      const refund = status === 'refunded' && !positive(refunded.ok) ? amount.ok : refunded.ok;
      const full = atLeast(refund, amount.ok);
      if (positive(refund)) events.push({ type: 'refund', eventId: `stripe:refund${full ? '-full' : ''}:${id}`, ...base, amount: refund });
      return { events };
    },
  };
}
