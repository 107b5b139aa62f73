// Shopify's Orders export CSV (Admin > Orders > Export): one row per line item; the order's own
// fields (Email, Financial Status, Total, …) only on its first row, the further rows of the
// same order repeat its Name. Timestamps like `2024-03-01 09:30:00 -0500`, country codes in
// Billing/Shipping Country. The export has no customer id: customers are known by Email.
// Rules (docs/importing.md, "Shopify"): paid orders make a purchase and a customer profile;
// Refunded Amount a refund at the order's own time (the export has no refund date); a
// cancelled order a refund of its whole Total at Cancelled at; unpaid, voided and test orders
// are skipped.
import { cell, columns, customerFromEmail, type ImportedEvent, type ImportOptions, type RowMapper, type RowOutcome } from './source.js';
import { atLeast, parseAmount, parseTimestamp, positive } from './values.js';

const REQUIRED = ['Name', 'Email', 'Financial Status', 'Currency', 'Total', 'Created at'] as const;
const OPTIONAL = ['Id', 'Paid at', 'Refunded Amount', 'Cancelled at', 'Payment Method', 'Billing Country', 'Shipping Country', 'Source', 'Tags'] as const;

/** Money was taken: the order happened (refunds, if any, come from Refunded Amount). */
const PAID = new Set(['paid', 'partially_paid', 'partially_refunded', 'refunded']);
/** No money taken (yet, or ever): not an order. */
const UNPAID = new Set(['pending', 'authorized', 'expired', 'voided', 'unpaid']);

export function shopifyMapper(file: string, header: string[], options: ImportOptions): RowMapper {
  const at = columns('Shopify Orders', file, header, REQUIRED, OPTIONAL);
  let previousName: string | undefined;
  return {
    map(cells): RowOutcome {
      const name = cell(cells, at.Name);
      if (name !== '' && name === previousName) return { lineItem: true };
      previousName = name;
      const id = cell(cells, at.Id) || name;
      const eventId = `shopify:order:${id}`;
      if (name === '') return { rejected: ['Name: is empty (every row of an order carries its Name)'], eventId: null };
      const status = cell(cells, at['Financial Status']).toLowerCase().replace(/ /g, '_');
      if (status === '') return { rejected: [`Financial Status: is empty on the first row of order ${name} (the order's fields belong on its first row)`], eventId };
      if (/bogus/i.test(cell(cells, at['Payment Method']))) return { skipped: 'test order (Bogus Gateway)' };
      if (UNPAID.has(status)) return { skipped: `financial status ${status}` };
      if (!PAID.has(status)) return { rejected: [`Financial Status: unknown value ${JSON.stringify(status)} (known: ${[...PAID, ...UNPAID].join(', ')})`], eventId };
      const email = cell(cells, at.Email);
      if (email === '') return { skipped: 'no customer e-mail (guest or POS order)' };

      const errors: string[] = [];
      const customer = customerFromEmail(options, email, 'Email');
      if ('error' in customer) errors.push(customer.error);
      const when = cell(cells, at['Paid at']) || cell(cells, at['Created at']);
      const occurredAt = parseTimestamp(when, options.zone, options.dateOrder);
      if ('error' in occurredAt) errors.push(`${cell(cells, at['Paid at']) ? 'Paid at' : 'Created at'}: ${occurredAt.error}`);
      const total = parseAmount(cell(cells, at.Total), options.decimal);
      if ('error' in total) errors.push(`Total: ${total.error}`);
      const refundedText = cell(cells, at['Refunded Amount']);
      const refunded = refundedText === '' ? { ok: '0' } : parseAmount(refundedText, options.decimal);
      if ('error' in refunded) errors.push(`Refunded Amount: ${refunded.error}`);
      const cancelledText = cell(cells, at['Cancelled at']);
      const cancelledAt = cancelledText === '' ? undefined : parseTimestamp(cancelledText, options.zone, options.dateOrder);
      if (cancelledAt && 'error' in cancelledAt) errors.push(`Cancelled at: ${cancelledAt.error}`);
      if ('error' in customer || 'error' in occurredAt || 'error' in total || 'error' in refunded || (cancelledAt && 'error' in cancelledAt)) {
        return { rejected: errors, eventId };
      }
      const currency = cell(cells, at.Currency).toUpperCase();
      const source = cell(cells, at.Source);
      const base = { customerId: customer.ok, occurredAt: occurredAt.ok };
      const events: ImportedEvent[] = [
        { type: 'purchase', eventId, ...base, amount: total.ok, currency, orderId: name, ...(source ? { channel: source } : {}) },
      ];
      // A cancelled order did not happen: refunded in full at its cancellation, whatever part
      // of the money went back. Otherwise the export's total refunded, at the order's time.
      const refund: Record<string, string> = cancelledAt
        ? { amount: total.ok, occurredAt: cancelledAt.ok, reason: 'cancelled' }
        : status === 'refunded' && !positive(refunded.ok)
          ? { amount: total.ok, occurredAt: occurredAt.ok }
          : { amount: refunded.ok, occurredAt: occurredAt.ok };
      // A cancellation and a full refund have eventIds of their own: a later export that shows
      // cancelled, or refunded in full, an order an earlier one showed partly refunded still
      // cancels it (the refunds then add up past its Total), where the partial refund's eventId
      // would make it a duplicate.
      const kind = cancelledAt ? 'cancel' : atLeast(refund.amount!, total.ok) ? 'refund-full' : 'refund';
      if (positive(refund.amount!)) {
        events.push({ type: 'refund', eventId: `shopify:${kind}:${id}`, customerId: customer.ok, orderId: name, currency, occurredAt: refund.occurredAt!, ...refund });
      }
      const country = (cell(cells, at['Billing Country']) || cell(cells, at['Shipping Country'])).toUpperCase();
      const tags = cell(cells, at.Tags);
      if (country || source || tags) {
        events.push({
          type: 'customer',
          eventId: `shopify:customer:${id}`,
          ...base,
          ...(country ? { country } : {}),
          ...(source ? { channel: source } : {}),
          ...(tags ? { segment: tags } : {}),
        });
      }
      return { events };
    },
  };
}
