// Services (guide §5.6): the catalog with search and category filter, a
// service's detail, and the order form whose one click validates the
// order definitively.

import { h, dl, externalLink, uuid } from './dom.js';
import { request, get, enc } from './api.js';
import { t } from './i18n.js';
import { link } from './router.js';
import { field, input, select, alertBox, hush, showErrors, clearErrors, busy, problemText } from './forms.js';
import * as fmt from './format.js';

const api = (ctx, ...rest) => `/contracts/${enc(ctx.cid)}/${rest.join('/')}`;

// fromPrice is how the catalog announces a service's price.
export function fromPrice(s) {
  if (s.kind === 'free' || (s.from_price && fmt.isZero(s.from_price))) return t('price.free');
  if (s.kind === 'one_off') return fmt.money(s.price || s.from_price);
  return t('price.from', { price: fmt.monthly(s.from_price) });
}

// serviceCard is a service in the catalog.
export function serviceCard(ctx, s) {
  return h('article', { class: 'card service', dataset: { service: s.service_code } },
    h('p', { class: 'category' }, categoryLabel(s.category)),
    h('h3', {}, s.name),
    h('p', { class: 'price' }, fromPrice(s)),
    h('p', { class: 'buttons' },
      h('a', { href: link(['contracts', ctx.cid, 'services', s.service_code]), class: 'more' }, t('services.learn_more'), ' ›'),
      ctx.can('place_order') ? h('a', { href: link(['contracts', ctx.cid, 'services', s.service_code, 'order']), class: 'button primary order' }, t('services.order')) : null));
}

let categoryLabels = {};
const categoryLabel = (c) => categoryLabels[c] || t(`category.${c}`, {}, c || '');

// catalog lists the services, searchable and filtered by category.
export async function catalog(ctx) {
  const q = input('catalog', 'q', { type: 'search', value: ctx.query.get('q') || '', autocomplete: 'off' });
  const cat = select('catalog', 'category', [['', t('services.all_categories')]], ctx.query.get('category') || '');
  const grid = h('div', { class: 'cards', id: 'catalog-items', 'aria-live': 'polite' });
  const manage = h('p', { hidden: true });
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    let res;
    try {
      res = await get(api(ctx, 'catalog'), { q: q.value.trim(), category: cat.value });
    } catch (e) {
      if (mine === seq) grid.replaceChildren(h('p', { class: 'error' }, problemText(e)));
      return;
    }
    if (mine !== seq) return;
    const items = Array.isArray(res) ? res : (res && res.items) || [];
    // "Manage your services": only for users with an account on the change
    // requests tool (the API gives the link then).
    const links = (res && res.links) || {};
    const a = externalLink(links.manage_services || links.change_requests, t('services.manage'), { class: 'button', id: 'manage-services' });
    manage.replaceChildren(...(a ? [a] : []));
    manage.hidden = !a;
    const cats = (res && res.categories) || [];
    for (const c of cats) categoryLabels[c.code] = c.label;
    const known = new Set([...cat.options].map((o) => o.value));
    for (const code of [...cats.map((c) => c.code), ...items.map((s) => s.category)]) {
      if (code && !known.has(code)) {
        known.add(code);
        cat.append(h('option', { value: code }, categoryLabel(code)));
      }
    }
    // The filter holds even if the server lists more than asked.
    const shown = items.filter((s) => !cat.value || s.category === cat.value);
    grid.replaceChildren(...(shown.length ? shown.map((s) => serviceCard(ctx, s)) : [h('p', {}, t('services.none'))]));
  };
  let debounce;
  q.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(load, 250);
  });
  cat.addEventListener('change', load);
  load();
  return h('div', {}, h('h1', {}, t('section.services')), h('p', {}, t('services.intro')), manage,
    h('form', { class: 'toolbar', role: 'search', onsubmit: (ev) => { ev.preventDefault(); load(); } },
      h('label', { for: q.id }, t('services.search')), ' ', q, ' ',
      h('label', { for: cat.id }, t('services.category')), ' ', cat),
    grid);
}

// detail shows one service.
export async function detail(ctx) {
  const s = await get(api(ctx, 'catalog', enc(ctx.params.code)));
  return h('article', { class: 'service-detail', id: 'service-detail' },
    h('p', { class: 'category' }, categoryLabel(s.category)),
    h('h1', {}, s.name),
    h('p', { class: 'price big' }, fromPrice(s), h('small', {}, ' ', t('price.excl_vat'))),
    h('p', { class: 'description' }, s.description),
    (s.parameters || []).length ? h('section', { class: 'block' }, h('h2', {}, t('services.parameters')), dl(s.parameters.map((p) => [p.label || p.name,
      (p.values || []).map((v) => v.label || v.value).join(' · ')]))) : null,
    h('p', { class: 'buttons' },
      h('a', { href: link(['contracts', ctx.cid, 'services']), class: 'button' }, t('action.back')),
      ctx.can('place_order') ? h('a', { href: link(['contracts', ctx.cid, 'services', s.service_code, 'order']), class: 'button primary', id: 'order-service' }, t('services.order')) : null));
}

// priceOf finds the catalog price of a reservation for the chosen
// parameters in the service's price table (prices: [{flavor,
// duration_months, upfront, subscription_name, initial_payment,
// monthly_price}]).
function priceOf(s, params) {
  for (const p of s.prices || []) {
    if (String(p.flavor) === String(params.flavor) && String(p.duration_months) === String(params.duration_months) &&
        String(p.upfront) === String(params.upfront)) return p;
  }
  return null;
}

// order is the order form: parameters, the price from the catalog, an
// optional contact, and the button that places the order at once.
export async function order(ctx) {
  const s = await get(api(ctx, 'catalog', enc(ctx.params.code)));
  const box = alertBox('order-error');
  const controls = (s.parameters || []).map((p) => {
    const values = (p.values && p.values.length ? p.values : p.type === 'boolean' ? [{ value: 'false' }, { value: 'true' }] : [])
      .map((v) => [String(v.value), v.label && v.label !== String(v.value) ? v.label : fmt.paramText(p.name, v.value)]);
    const c = values.length
      ? select('order', `parameters.${p.name}`, values, String(p.default || values[0][0]), { required: p.required })
      : input('order', `parameters.${p.name}`, { required: p.required, value: p.default || '' });
    c.dataset.param = p.name;
    return field(p.label || t(`param.${p.name}`, {}, p.name), c, { required: p.required });
  });
  const contactName = input('order', 'contact.name', { autocomplete: 'name' });
  const contactEmail = input('order', 'contact.email', { type: 'email', autocomplete: 'email' });
  const contactPhone = input('order', 'contact.phone', { type: 'tel', autocomplete: 'tel' });
  const summary = h('div', { class: 'order-summary', id: 'order-summary', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'order-submit' }, t('services.order'));
  const form = h('form', { id: 'order-form', novalidate: true },
    h('h1', {}, t('order.title', { contract: ctx.cid })),
    h('section', { class: 'block' }, h('h2', {}, s.name), h('p', { class: 'price' }, fromPrice(s), h('small', {}, ' ', t('price.excl_vat')))),
    box,
    controls.length ? h('section', { class: 'block' }, h('h2', {}, t('order.characteristics')), controls) : null,
    h('section', { class: 'block' }, h('h2', {}, t('order.summary')), summary),
    h('section', { class: 'block' }, h('h2', {}, t('order.contact')), h('p', { class: 'hint' }, t('order.contact_hint')),
      field(t('field.name'), contactName), field(t('field.email'), contactEmail), field(t('contact.phone'), contactPhone)),
    h('p', { class: 'warning', id: 'order-warning' }, t('order.definitive')),
    h('div', { class: 'buttons' }, h('a', { href: link(['contracts', ctx.cid, 'services', s.service_code]), class: 'button' }, t('action.back')), submit));

  const params = () => {
    const out = {};
    form.querySelectorAll('[data-param]').forEach((c) => {
      const p = s.parameters.find((x) => x.name === c.dataset.param);
      if (c.value === '') return;
      out[p.name] = p.type === 'integer' ? Number(c.value) : p.type === 'boolean' ? c.value === 'true' : c.value;
    });
    return out;
  };
  // One key per distinct order: a retry of the same click (a lost answer,
  // a double click) cannot place two orders; a changed form is a new order.
  let key = uuid();
  let keyFor = '';
  const body = () => {
    const b = { service_code: s.service_code, parameters: params() };
    const contact = { name: contactName.value.trim(), email: contactEmail.value.trim(), phone: contactPhone.value.trim() };
    if (contact.name || contact.email || contact.phone) b.contact = contact;
    const json = JSON.stringify(b);
    if (json !== keyFor) {
      key = uuid();
      keyFor = json;
    }
    return b;
  };
  const drawSummary = () => {
    const p = params();
    const rows = [];
    if (s.kind === 'reservation' || p.duration_months) {
      const price = priceOf(s, p);
      rows.push([t('order.subscription_name'), price ? price.subscription_name : null, 'subscription_name']);
      if (p.region) rows.push([t('param.region'), form.querySelector('[data-param="region"]').selectedOptions[0].textContent, 'region']);
      if (p.flavor) rows.push([t('param.flavor'), p.flavor, 'flavor']);
      rows.push([t('subscriptions.duration'), t('order.months', { n: p.duration_months })]);
      rows.push([t('subscriptions.start'), t('order.start_rule')]);
      if (price) {
        rows.push([t('subscriptions.initial_payment'), fmt.money(price.initial_payment), 'initial_payment']);
        rows.push([t('subscriptions.monthly_price'), fmt.monthly(price.monthly_price), 'monthly_price']);
      } else {
        rows.push([t('orders.price'), `${fromPrice(s)} (${t('order.price_on_confirmation')})`, 'price']);
      }
    } else {
      rows.push([t('orders.price'), fromPrice(s), 'price']);
    }
    summary.replaceChildren(dl(rows));
  };
  form.addEventListener('change', drawSummary);
  drawSummary();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hush(box);
    const b = body();
    try {
      const { data } = await busy(submit, request('POST', api(ctx, 'orders'), { body: b, idempotencyKey: key }));
      form.replaceWith(h('section', { class: 'card', id: 'order-placed' },
        h('h1', {}, t('order.placed_title')),
        h('p', { role: 'status' }, t('order.placed', { ref: data.ref, status: fmt.status(data.status) })),
        dl([[t('orders.ref'), data.ref, 'ref'], [t('orders.name'), fmt.orderName(data), 'name'], [t('orders.price'), data.monthly_price ? fmt.monthly(data.monthly_price) : fmt.money(data.price), 'price']]),
        h('p', { class: 'buttons' },
          ctx.can('list_orders') ? h('a', { href: link(['contracts', ctx.cid, 'orders']), class: 'button primary' }, t('order.see_orders')) : null,
          h('a', { href: '#/account/orders', class: 'button' }, t('nav.my_orders')))));
    } catch (e) {
      showErrors(form, box, e);
    }
  });
  return form;
}
