// Formatting of API values for display, in the UI's language. Amounts stay
// decimal strings end to end: Intl formats the string, never a float.

import { lang, t } from './i18n.js';

const locale = () => (lang() === 'fr' ? 'fr-FR' : 'en-GB');

// amount returns the decimal string and currency of a money value, which
// the API writes {"amount":"240.60","currency":"EUR"} (a bare string is
// taken as euros).
export function amountOf(v) {
  if (v == null) return null;
  if (typeof v === 'string' || typeof v === 'number') return { amount: String(v), currency: 'EUR' };
  if (typeof v === 'object' && v.amount != null) return { amount: String(v.amount), currency: v.currency || 'EUR' };
  return null;
}

// money formats a money value: "€240.60", "240,60 €".
export function money(v) {
  const a = amountOf(v);
  if (!a) return '';
  if (!/^-?\d+(\.\d+)?$/.test(a.amount)) return `${a.amount} ${a.currency}`;
  // Unit prices have up to 4 decimals ("0.0125"): show them all.
  const decimals = Math.max(2, (a.amount.split('.')[1] || '').length);
  return new Intl.NumberFormat(locale(), { style: 'currency', currency: a.currency, minimumFractionDigits: 2, maximumFractionDigits: decimals }).format(a.amount);
}

// isZero tells whether a money value is nothing.
export function isZero(v) {
  const a = amountOf(v);
  return !!a && /^-?0+(\.0+)?$/.test(a.amount);
}

// monthly formats a monthly price: "€240.60/month".
export function monthly(v) {
  return t('price.per_month', { price: money(v) });
}

// date formats a calendar date "YYYY-MM-DD" (or the date of an instant).
export function date(s) {
  if (!s) return '';
  const d = /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00Z`) : new Date(s);
  if (isNaN(d)) return String(s);
  const tz = /^\d{4}-\d{2}-\d{2}$/.test(s) ? 'UTC' : undefined;
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeZone: tz }).format(d);
}

// dateTime formats an RFC 3339 instant in the browser's time zone.
export function dateTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (isNaN(d)) return String(s);
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'short', timeStyle: 'short' }).format(d);
}

// period formats a billing period "2026-10".
export function period(s) {
  if (!/^\d{4}-\d{2}$/.test(s || '')) return s || '';
  return new Intl.DateTimeFormat(locale(), { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date(`${s}-01T00:00:00Z`));
}

// status labels an order or subscription status.
export function status(s) {
  return s ? t(`status.${s}`, {}, s) : '';
}

// paramText shows a parameter's value.
export function paramText(k, v) {
  if (k === 'upfront') return String(v) === 'true' ? t('order.with_upfront') : t('order.without_upfront');
  if (k === 'duration_months') return t('order.months', { n: v });
  return String(v);
}

// orderName is an order's name in the UI's language: the server gives
// `names` per language beside the stored (English) `name`.
export function orderName(o) {
  return (o && o.names && o.names[lang()]) || (o && o.name) || '';
}
