// A contract's sections (guide §5.2 to §5.8): summary with company and
// rights, dashboard, orders, subscriptions, invoices, support. Each shows
// only what the user's capabilities on the contract allow.

import { h, dl, externalLink } from './dom.js';
import { get, enc } from './api.js';
import { t } from './i18n.js';
import { link } from './router.js';
import { listView } from './list.js';
import { problemText, alertBox } from './forms.js';
import { rolesTable } from './people.js';
import { orderColumns, orderDetail, subscriptionColumns, subscriptionDetail, ordersTable } from './page-account.js';
import { serviceCard } from './page-services.js';
import { ssoButton } from './console-sso.js';
import * as fmt from './format.js';

const api = (ctx, ...rest) => `/contracts/${enc(ctx.cid)}${rest.length ? '/' + rest.join('/') : ''}`;

// block is a titled part of a page that fills itself from a promise.
function block(id, title, fill, footer) {
  const body = h('div', { class: 'block-body' }, h('p', { class: 'loading' }, t('app.loading')));
  fill().then((nodes) => body.replaceChildren(...[nodes].flat().filter(Boolean)),
    (e) => body.replaceChildren(h('p', { class: 'error' }, problemText(e))));
  return h('section', { class: 'block', id }, h('h2', {}, title), body, footer || null);
}

// summary is the contract's home: summary, company (managers), document
// space, last orders, rights, services.
export async function summary(ctx) {
  const c = ctx.contract;
  const parts = [
    h('h1', {}, t('contract.title')),
    h('section', { class: 'block', id: 'contract-summary' }, h('h2', {}, t('contract.summary')), dl([
      [t('contract.offer'), c.offer, 'offer'],
      [t('contract.id'), c.id, 'id'],
      [t('contract.platform_id'), c.platform_id, 'platform_id'],
      [t('contract.name'), c.name, 'name'],
      [t('contract.created_on'), fmt.date(c.created_on), 'created_on'],
    ])),
  ];
  if (c.company) {
    parts.push(h('section', { class: 'block', id: 'company' }, h('h2', {}, t('contract.company')), dl([
      [t('company.legal_name'), c.company.legal_name, 'legal_name'],
      [t('company.siret'), c.company.siret, 'siret'],
      [t('company.referent_name'), c.company.referent_name, 'referent_name'],
      [t('company.referent_email'), c.company.referent_email, 'referent_email'],
    ]), c.document_space_url && ctx.can('see_document_space')
      ? h('p', {}, externalLink(c.document_space_url, t('contract.document_space'), { class: 'button', id: 'document-space' }))
      : null));
  }
  if (ctx.can('list_orders')) {
    parts.push(block('contract-orders', t('contract.your_orders'), async () => {
      const res = await get(api(ctx, 'orders'), { limit: 3, sort: '-placed_at' });
      const items = (res && res.items) || [];
      if (!items.length) return h('p', {}, t('orders.none'));
      return ordersTable(items, () => ctx.contract.offer);
    }, h('p', {}, h('a', { href: link(['contracts', ctx.cid, 'orders']), class: 'button' }, t('contract.all_orders')))));
  }
  const r = ctx.rights;
  parts.push(h('section', { class: 'block', id: 'rights' }, h('h2', {}, t('contract.your_rights')),
    r.referent ? h('p', { class: 'badge', id: 'referent-badge' }, t('contract.referent')) : null,
    rolesTable(r.profiles || {}, r.console || [], 'rights-table')));
  if (ctx.can('see_catalog')) {
    parts.push(block('contract-services', t('contract.our_services'), async () => {
      const res = await get(api(ctx, 'catalog'));
      const items = (Array.isArray(res) ? res : (res && res.items) || []).slice(0, 3);
      return h('div', { class: 'cards' }, items.map((s) => serviceCard(ctx, s)));
    }, h('p', {}, h('a', { href: link(['contracts', ctx.cid, 'services']), class: 'button' }, t('services.view_catalog')))));
  }
  return h('div', { class: 'contract' }, parts);
}

// dashboard offers the single sign-on to the technical console.
export async function dashboard(ctx) {
  const box = alertBox('sso-error');
  const parts = [h('h1', {}, t('section.dashboard')), h('p', {}, t('dashboard.intro')), box];
  if (ctx.can('use_console_from_dashboard')) {
    parts.push(h('p', {}, ssoButton(ctx.cid, box, { id: 'console-sso' })));
  } else {
    parts.push(h('p', { class: 'hint', id: 'no-console-role' }, t('dashboard.no_console')));
  }
  if (ctx.can('use_console')) {
    parts.push(h('p', {}, h('a', { href: link(['contracts', ctx.cid, 'console', 'credentials']), class: 'button', id: 'console-credentials-link' },
      t('dashboard.credentials'))));
  }
  return h('div', {}, parts);
}

// orders lists the contract's orders.
export async function orders(ctx) {
  const list = listView({
    id: 'orders',
    key: (o) => o.ref,
    load: (q) => get(api(ctx, 'orders'), q),
    columns: orderColumns(false),
    detail: orderDetail,
    initial: { sort: '-placed_at', q: ctx.query.get('q') || '' },
    empty: t('orders.none'),
  });
  return h('div', {}, h('h1', {}, t('section.orders')), list.el);
}

// subscriptions lists the contract's subscriptions, filtered by status.
export async function subscriptions(ctx) {
  const orderLink = ctx.can('list_orders') ? (s) => link(['contracts', ctx.cid, 'orders'], { q: s.order_ref }) : null;
  const list = listView({
    id: 'subscriptions',
    key: (x) => x.ref,
    load: (q) => get(api(ctx, 'subscriptions'), q),
    columns: subscriptionColumns(false),
    detail: (s) => subscriptionDetail(s, orderLink),
    filters: [{ name: 'status', label: t('orders.status'), options: [
      ['', t('subscriptions.all')], ['subscribed', fmt.status('subscribed')], ['in_progress', fmt.status('in_progress')], ['terminated', fmt.status('terminated')],
    ] }],
    initial: { sort: '-subscribed_at' },
    searchLabel: t('subscriptions.search'),
    empty: t('subscriptions.none'),
  });
  return h('div', {}, h('h1', {}, t('section.subscriptions')), list.el);
}

function contactBlock(id, title, c) {
  c = c || {};
  return h('section', { class: 'block', id }, h('h2', {}, title), dl([
    [t('contact.phone'), c.phone ? h('a', { href: `tel:${c.phone.replace(/[^+0-9]/g, '')}` }, c.phone) : null, 'phone'],
    [t('contact.email'), c.email ? h('a', { href: `mailto:${c.email}` }, c.email) : null, 'email'],
    [t('contact.hours'), c.hours, 'hours'],
  ]));
}

// invoices shows the invoice-reception contact to every visitor, and the
// invoices and usage reports to managers.
export async function invoices(ctx) {
  const data = await get(api(ctx, 'invoices'));
  const parts = [h('h1', {}, t('section.invoices'))];
  if (ctx.can('see_invoices')) {
    const last = data.last_invoice;
    parts.push(h('section', { class: 'block', id: 'last-invoice' }, h('h2', {}, t('invoices.last')),
      last ? [h('p', { class: 'big' }, fmt.money(last.amount_excl_vat)), h('p', {}, fmt.date(last.issued_on), ' · ', fmt.period(last.period))]
        : h('p', {}, t('invoices.none'))));
    const items = data.items || [];
    parts.push(h('section', { class: 'block', id: 'invoice-history' }, h('h2', {}, t('invoices.history')),
      items.length ? h('table', {}, h('thead', {}, h('tr', {},
        [t('invoices.number'), t('invoices.date'), t('invoices.period'), t('invoices.amount'), ''].map((l) => h('th', { scope: 'col' }, l)))),
      h('tbody', {}, items.map((inv) => invoiceRow(ctx, inv)))) : h('p', {}, t('invoices.none'))));
  }
  parts.push(contactBlock('invoice-contact', t('invoices.contact'), data.contact));
  if (ctx.can('see_usage_reports')) {
    parts.push(block('usage-reports', t('invoices.usage'), async () => {
      const res = await get(api(ctx, 'usage-reports'));
      const items = usageWorthShowing(Array.isArray(res) ? res : (res && res.items) || []);
      if (!items.length) return h('p', {}, t('invoices.no_usage'));
      return h('table', {}, h('thead', {}, h('tr', {}, [t('invoices.period'), t('invoices.usage_report'), t('invoices.pre_invoice')].map((l) => h('th', { scope: 'col' }, l)))),
        h('tbody', {}, items.map((u) => h('tr', { dataset: { period: u.period } }, h('td', { class: 'nowrap' }, fmt.period(u.period)),
          h('td', {}, u.lines && u.lines.length ? h('a', { class: 'usage-report', href: link(['contracts', ctx.cid, 'usage-reports', u.period]) },
            t('invoices.see_usage', { amount: fmt.money(linesTotal(u.lines)) }), ' ›') : '—'),
          h('td', {}, u.pre_invoice ? h('a', { class: 'pre-invoice', href: link(['contracts', ctx.cid, 'pre-invoices', u.period]) },
            t('invoices.see_pre_invoice', { amount: fmt.money(u.pre_invoice.amount_excl_vat) }), ' ›')
            : u.invoice_id ? h('a', { href: link(['contracts', ctx.cid, 'invoices', u.invoice_id]) }, t('invoices.invoiced', { id: u.invoice_id })) : '—')))));
    }));
  }
  return h('div', {}, parts);
}

function invoiceRow(ctx, inv) {
  const more = h('button', { type: 'button', class: 'link invoice-detail', 'aria-expanded': 'false' }, t('invoices.detail'), ' ›');
  const print = h('a', { class: 'invoice-print', href: link(['contracts', ctx.cid, 'invoices', inv.id]) }, t('invoices.open'), ' ›');
  const tr = h('tr', { dataset: { invoice: inv.id } }, h('td', { class: 'nowrap', dataset: { col: 'ref' } }, inv.id), h('td', { class: 'nowrap' }, fmt.date(inv.issued_on)),
    h('td', {}, fmt.period(inv.period)), h('td', {}, fmt.money(inv.amount_excl_vat)), h('td', { class: 'actions' }, more, ' ', print));
  let open = null;
  more.addEventListener('click', async () => {
    if (open) {
      open.remove();
      open = null;
      more.setAttribute('aria-expanded', 'false');
      return;
    }
    more.setAttribute('aria-expanded', 'true');
    open = h('tr', { class: 'detail' }, h('td', { colspan: 5 }, h('p', { class: 'loading' }, t('app.loading'))));
    tr.after(open);
    const cell = open.firstChild;
    try {
      const full = inv.lines ? inv : await get(api(ctx, 'invoices', enc(inv.id)));
      cell.replaceChildren(linesTable(full.lines || []));
    } catch (e) {
      cell.replaceChildren(h('p', { class: 'error' }, problemText(e)));
    }
  });
  return tr;
}

// usageWorthShowing leaves out the periods with nothing to show: no line
// of any quantity and no pre-invoice or invoice (an empty "€0.00" row).
function usageWorthShowing(items) {
  return items.map((u) => ({ ...u, lines: (u.lines || []).filter((l) => !isNothing(l.quantity) || !isNothing(amountText(l))) }))
    .filter((u) => u.lines.length || u.invoice_id || (u.pre_invoice && !fmt.isZero(u.pre_invoice.amount_excl_vat)));
}

const isNothing = (v) => v == null || v === '' || /^-?0*(\.0*)?$/.test(typeof v === 'object' ? String(v.amount ?? '') : String(v));
const amountText = (l) => l.amount || l.amount_excl_vat;

// linesTotal adds the lines' amounts (decimal strings, to the cent).
function linesTotal(lines) {
  let cents = 0;
  let currency = 'EUR';
  for (const l of lines) {
    const a = amountText(l);
    if (!a) continue;
    const v = typeof a === 'object' ? a : { amount: String(a) };
    if (v.currency) currency = v.currency;
    cents += Math.round(Number(v.amount) * 100);
  }
  return { amount: (cents / 100).toFixed(2), currency };
}

// invoiceDocument is an invoice as a page to print or save as PDF.
export async function invoiceDocument(ctx) {
  const inv = await get(api(ctx, 'invoices', enc(ctx.params.id)));
  return printable(ctx, 'invoice-document', t('invoices.document_title', { id: inv.id }), [
    [t('invoices.number'), inv.id, 'id'],
    [t('invoices.date'), fmt.date(inv.issued_on), 'issued_on'],
    [t('invoices.period'), fmt.period(inv.period), 'period'],
  ], inv.lines || [], inv.amount_excl_vat);
}

// usageDocument is a period's usage report, or its pre-invoice, as a
// page to print.
export async function usageDocument(ctx) {
  const pre = ctx.route.path.includes('pre-invoices');
  const res = await get(api(ctx, 'usage-reports'));
  const u = (Array.isArray(res) ? res : (res && res.items) || []).find((x) => x.period === ctx.params.period);
  if (!u || (pre && !u.pre_invoice)) {
    return h('section', { class: 'message', id: 'document-not-found' }, h('h1', {}, t('invoices.document_missing')),
      h('p', {}, h('a', { href: link(['contracts', ctx.cid, 'invoices']) }, t('invoices.back'))));
  }
  const lines = pre ? u.pre_invoice.lines || [] : (u.lines || []).filter((l) => !isNothing(l.quantity) || !isNothing(amountText(l)));
  const total = pre ? u.pre_invoice.amount_excl_vat : linesTotal(lines);
  return printable(ctx, pre ? 'pre-invoice-document' : 'usage-document',
    t(pre ? 'invoices.pre_invoice_title' : 'invoices.usage_title', { period: fmt.period(u.period) }),
    [[t('invoices.period'), fmt.period(u.period), 'period'], u.reported_at ? [t('invoices.reported_at'), fmt.dateTime(u.reported_at), 'reported_at'] : [null, null]],
    lines, total);
}

// printable lays out a billing document: who it is for, its facts, its
// lines and total, with a print button (the print stylesheet keeps the
// document only).
function printable(ctx, id, title, facts, lines, total) {
  const c = ctx.contract;
  return h('article', { class: 'document', id },
    h('p', { class: 'no-print' }, h('a', { href: link(['contracts', ctx.cid, 'invoices']) }, '‹ ', t('invoices.back'))),
    h('header', { class: 'document-head' },
      h('div', {}, h('p', { class: 'document-brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Orange Business · Cloud Store'), h('h1', {}, title)),
      h('div', { class: 'document-to' }, h('strong', {}, (c.company && c.company.legal_name) || c.name),
        h('br'), `${t('contract.label')} ${c.id} (${c.name})`, h('br'), c.offer)),
    dl(facts.filter(([l]) => l)),
    linesTable(lines),
    h('p', { class: 'document-total' }, t('invoices.total_excl_vat'), ' ', h('strong', { id: `${id}-total` }, fmt.money(total))),
    h('div', { class: 'buttons no-print' }, h('button', { type: 'button', class: 'primary', id: 'print', onclick: () => window.print() }, t('invoices.print'))));
}

// linesTable shows invoice or usage lines ({item|label|description,
// quantity, unit_price, amount}).
function linesTable(lines) {
  if (!lines.length) return '—';
  return h('table', { class: 'lines' }, h('thead', {}, h('tr', {},
    [t('invoices.item'), t('invoices.quantity'), t('invoices.unit_price'), t('invoices.amount')].map((l) => h('th', { scope: 'col' }, l)))),
  h('tbody', {}, lines.map((l) => h('tr', {},
    h('td', {}, l.item || l.label || l.description || l.name || ''), h('td', {}, l.quantity ?? ''),
    h('td', {}, l.unit_price ? fmt.money(l.unit_price) : ''), h('td', {}, l.amount || l.amount_excl_vat ? fmt.money(l.amount || l.amount_excl_vat) : '')))));
}

// support shows the support centre's contact and the links to the
// external applications the user has an account on (GET support: {contact,
// links: [{rel, title, url}]}).
export async function support(ctx) {
  const data = await get(api(ctx, 'support'));
  const links = [];
  for (const l of data.links || []) {
    const a = externalLink(l.url, t(`support.link.${l.rel}`, {}, l.title || l.rel), { class: 'button', dataset: { link: l.rel } });
    if (a) links.push(h('li', {}, a));
  }
  return h('div', {}, h('h1', {}, t('section.support')), h('p', {}, t('support.intro')),
    contactBlock('support-contact', t('support.contact'), data.contact),
    links.length ? h('section', { class: 'block', id: 'support-links' }, h('h2', {}, t('support.links')), h('ul', { class: 'plain' }, links)) : null);
}
