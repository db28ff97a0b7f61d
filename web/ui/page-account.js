// My account (guide §5.1 and §5.10): home, profile and password, my
// contracts, my orders, my subscriptions.

import { h, dl, externalLink } from './dom.js';
import { request, get, enc, ApiError } from './api.js';
import { t, lang, setLang } from './i18n.js';
import { link } from './router.js';
import { listView } from './list.js';
import { alertBox, hush, showErrors, clearErrors, busy, passwordRules, showPasswords, onNewPassword, field, input, problemText } from './forms.js';
import { personFields, personValue, checkPerson, personSummary } from './people.js';
import { currentMe, setMe, notify, rerender } from './state.js';
import * as fmt from './format.js';
import { serviceCard } from './page-services.js';
import { ssoButton } from './console-sso.js';
import { icon } from './icons.js';

function tabs(current) {
  const items = [['profile', '#/account'], ['contracts', '#/account/contracts'], ['orders', '#/account/orders'], ['subscriptions', '#/account/subscriptions']];
  return h('nav', { class: 'tabs', 'aria-label': t('nav.account') }, h('ul', {},
    items.map(([k, href]) => h('li', {}, h('a', { href, 'aria-current': k === current ? 'page' : null }, t(`nav.my_${k === 'profile' ? 'account' : k}`))))));
}

// home is the customer area's home page (guide §5.1): the user's
// contracts (each with its contract, services and console links as the
// user's rights allow), services to enrich the offer, the last orders,
// news and contact.
export async function home(ctx) {
  const loading = () => h('p', { class: 'loading' }, t('app.loading'));
  const contracts = h('div', { class: 'cards', id: 'home-contracts' }, loading());
  const orders = h('div', { id: 'home-orders' }, loading());
  const teaser = h('section', { class: 'block', id: 'home-services', hidden: true });
  const contact = h('p', { id: 'home-contact-links' });
  const box = alertBox('home-sso-error');
  const name = ctx.me && ctx.me.first_name ? `${ctx.me.first_name} ${(ctx.me.last_name || '').toUpperCase()}` : ctx.session.login;

  const mine = get('/me/contracts', { limit: 50 }).then((res) => (res && res.items) || []);
  mine.then(async (items) => {
    if (!items.length) {
      contracts.replaceChildren(emptyState('home-no-contract', t('home.no_contract'), t('home.no_contract_next')));
      return;
    }
    const rights = await Promise.all(items.map((c) => get(`/contracts/${enc(c.id)}/rights`)
      .then((r) => new Set(r.capabilities || []), () => new Set())));
    contracts.replaceChildren(...items.map((c, i) => contractCard(c, rights[i], box)));
    const i = rights.findIndex((r) => r.has('see_catalog'));
    if (i >= 0) servicesTeaser(teaser, items[i], rights[i]);
    const j = rights.findIndex((r) => r.has('see_support'));
    if (j >= 0) contact.replaceChildren(h('a', { class: 'button', href: link(['contracts', items[j].id, 'support']) }, t('home.contact_us')));
  }, (e) => contracts.replaceChildren(h('p', { class: 'error' }, problemText(e))));
  Promise.all([mine.catch(() => []), get('/me/orders', { limit: 3, sort: '-placed_at' })]).then(([cs, res]) => {
    const offers = new Map(cs.map((c) => [c.id, c.offer]));
    const items = (res && res.items) || [];
    orders.replaceChildren(items.length ? ordersTable(items, (o) => offers.get(o.contract_id) || '')
      : emptyState('home-no-order', t('orders.none'), t('home.no_order_next')));
  }, () => orders.replaceChildren(h('p', { class: 'hint' }, t('orders.unavailable'))));

  return h('div', { class: 'home' },
    h('h1', {}, t('home.title', { name })),
    box,
    h('section', { class: 'block', id: 'home-your-contracts' }, h('h2', {}, t('home.your_contracts')), contracts),
    teaser,
    h('section', { class: 'block', id: 'home-last-orders' }, h('h2', {}, t('home.last_orders')), orders,
      h('p', {}, h('a', { href: '#/account/orders', class: 'button' }, t('home.view_orders')))),
    h('div', { class: 'home-more' },
      h('section', { class: 'block', id: 'home-news' }, h('h2', {}, icon('news'), ' ', t('home.news')),
        h('p', {}, t('home.news_text')),
        h('p', {}, externalLink(NEWS_URL, [t('home.news_link'), ' ›'], { id: 'home-news-link' }))),
      h('section', { class: 'block', id: 'home-contact' }, h('h2', {}, icon('contact'), ' ', t('home.question')),
        h('p', {}, t('home.question_text')), contact)));
}

// NEWS_URL is Orange Cloud for Business's news, a plain link (the page
// fetches nothing from it).
const NEWS_URL = 'https://cloud.orange-business.com/en/news/';

// emptyState tells that there is nothing yet, and what to do next.
export function emptyState(id, text, next) {
  return h('div', { class: 'empty-state', id }, icon('empty', 'big'),
    h('p', { class: 'empty-title' }, text), next ? h('p', { class: 'hint' }, next) : null);
}

function contractCard(c, can, box) {
  return h('article', { class: 'card contract-card', dataset: { contract: c.id } },
    h('p', { class: 'offer' }, c.offer),
    h('h3', {}, `${c.id} (${c.name})`),
    h('ul', { class: 'card-links' },
      h('li', {}, h('a', { href: link(['contracts', c.id]), class: 'your-contract' }, t('home.your_contract'), ' ›')),
      can.has('see_catalog') ? h('li', {}, h('a', { href: link(['contracts', c.id, 'services']), class: 'your-services' }, t('home.your_services'), ' ›')) : null),
    can.has('use_console_from_dashboard') ? h('p', {}, ssoButton(c.id, box, { class: 'primary console-sso' })) : null);
}

// servicesTeaser fills the "Enrich your offer" block with three services
// of contract c's catalog.
async function servicesTeaser(el, c, can) {
  let items;
  try {
    const res = await get(`/contracts/${enc(c.id)}/catalog`);
    items = (Array.isArray(res) ? res : (res && res.items) || []).slice(0, 3);
  } catch {
    return; // a teaser: nothing to say when it cannot be shown
  }
  if (!items.length) return;
  const ctx = { cid: c.id, can: (x) => can.has(x) };
  el.replaceChildren(h('h2', {}, icon('services'), ' ', t('home.services')), h('p', { class: 'lead' }, t('home.enrich')),
    h('div', { class: 'cards' }, items.map((s) => serviceCard(ctx, s))),
    h('p', {}, h('a', { href: link(['contracts', c.id, 'services']), class: 'button', id: 'home-view-catalog' }, t('services.view_catalog'))));
  el.hidden = false;
}

// ordersTable is a short table of orders (the home page's last orders, a
// contract's); offerOf(order) gives the offer of its contract.
export function ordersTable(items, offerOf) {
  return h('table', { class: 'orders-table' }, h('thead', {}, h('tr', {},
    [t('orders.date'), t('orders.ref'), t('orders.name'), t('orders.price'), t('orders.contract'), t('contract.offer'), t('orders.by'), t('orders.status')].map((l) => h('th', { scope: 'col' }, l)))),
  h('tbody', {}, items.map((o) => h('tr', { dataset: { ref: o.ref } },
    h('td', { dataset: { col: 'placed_at' } }, fmt.dateTime(o.placed_at)), h('td', { dataset: { col: 'ref' } }, o.ref),
    h('td', { dataset: { col: 'name' } }, fmt.orderName(o)), h('td', { dataset: { col: 'price' } }, priceText(o)),
    h('td', { dataset: { col: 'contract' } }, o.contract_name || o.contract_id || o.contract || ''), h('td', { dataset: { col: 'offer' } }, offerOf(o)),
    h('td', { dataset: { col: 'placed_by' } }, o.placed_by),
    h('td', { dataset: { col: 'status' } }, h('span', { class: `status status-${o.status}` }, fmt.status(o.status)))))));
}

// priceText is an order's price: monthly for subscriptions, once otherwise.
export function priceText(o) {
  if (o.monthly_price) return fmt.monthly(o.monthly_price);
  if (o.price && fmt.isZero(o.price)) return t('price.free');
  return fmt.money(o.price);
}

// profile shows the user's personal data, lets them edit it and change
// their password.
export async function profile(ctx) {
  let me;
  try {
    me = await get('/me');
  } catch (e) {
    return h('div', {}, h('h1', {}, t('nav.my_account')), tabs('profile'), h('p', { class: 'error', role: 'alert' }, problemText(e)));
  }
  setMe(me);
  const view = h('section', { class: 'block', id: 'my-profile' });
  const showProfile = (p) => {
    view.replaceChildren(
      h('h2', {}, t('account.profile')),
      dl(personSummary(p)),
      p.pending_email ? h('p', { class: 'alert alert-info', id: 'pending-email', role: 'status' },
        t('account.email_pending', { email: p.pending_email, until: fmt.dateTime(p.pending_email_expires_at) })) : null,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', id: 'edit-profile', onclick: () => editProfile(p) }, t('action.edit')),
        h('button', { type: 'button', id: 'change-password', onclick: () => changePassword(p) }, t('account.change_password'))));
  };
  const editProfile = (p) => {
    const box = alertBox('profile-error');
    const save = h('button', { type: 'submit', class: 'primary', id: 'profile-save' }, t('action.finish'));
    // A new email needs the current password, and takes effect once
    // confirmed through the link sent to it (SPEC §10).
    const current = input('profile', 'current_password', { type: 'password', autocomplete: 'current-password' });
    const currentField = field(t('field.current_password'), current, { required: true, hint: t('account.email_password_hint') });
    currentField.hidden = true;
    const form = h('form', { id: 'profile-form', novalidate: true },
      h('h2', {}, t('account.edit_title')), box, personFields('profile', p), currentField,
      h('p', { class: 'hint' }, t('form.required_note')),
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => showProfile(p) }, t('action.cancel')), save));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      hush(box);
      const v = personValue(form);
      const errors = checkPerson(v);
      const moving = v.email.toLowerCase() !== String(p.email || '').toLowerCase();
      if (moving && !current.value) errors.push({ field: 'current_password', code: 'required' });
      if (errors.length) {
        showErrors(form, box, { errors });
        return;
      }
      if (moving) v.current_password = current.value;
      try {
        const { data } = await busy(save, request('PATCH', '/me', { body: v }));
        if (moving && data.pending_email) notify('ok', t('account.email_link_sent', { email: data.pending_email }));
        // Draw the page again: the header shows the new name, and the
        // customer area the language just chosen.
        setMe(data);
        if (data.language && data.language !== lang()) setLang(data.language, { remember: false });
        notify('ok', t('account.saved'));
        rerender();
      } catch (e) {
        if (e instanceof ApiError && e.status === 403) {
          showErrors(form, box, { errors: [{ field: 'current_password', code: 'wrong_password' }] });
          return;
        }
        showErrors(form, box, e);
      }
    });
    const emailInput = form.elements.namedItem('email');
    const toggle = () => { currentField.hidden = emailInput.value.trim().toLowerCase() === String(p.email || '').toLowerCase(); };
    emailInput.addEventListener('input', toggle);
    view.replaceChildren(form);
  };
  const changePassword = (p) => {
    const current = input('password', 'current_password', { type: 'password', autocomplete: 'current-password', required: true });
    const pw = input('password', 'new_password', { type: 'password', autocomplete: 'new-password', required: true });
    const confirm = input('password', 'confirm_password', { type: 'password', autocomplete: 'new-password', required: true });
    const box = alertBox('password-error');
    const save = h('button', { type: 'submit', class: 'primary', id: 'password-save' }, t('action.update'));
    const form = h('form', { id: 'password-form', novalidate: true },
      h('h2', {}, t('account.change_password')), box, passwordRules(pw, () => p.login),
      field(t('field.current_password'), current, { required: true }),
      field(t('field.new_password'), pw, { required: true }),
      showPasswords('password-show', current, pw, confirm),
      field(t('field.confirm_password'), confirm, { required: true }),
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => showProfile(p) }, t('action.cancel')), save));
    onNewPassword(form, box, pw, confirm, async () => {
      try {
        const { data } = await busy(save, request('PUT', '/me/password', {
          body: { current_password: current.value, new_password: pw.value, confirm_password: confirm.value },
        }));
        showProfile(p);
        view.prepend(h('div', { class: 'alert alert-ok', role: 'status' },
          t('account.password_changed', { strength: t(`password.${data && data.strength}`, {}, '') })));
      } catch (e) {
        if (e instanceof ApiError && e.status === 403) {
          showErrors(form, box, { errors: [{ field: 'current_password', code: 'wrong_password' }] });
          return;
        }
        showErrors(form, box, e);
      }
    });
    view.replaceChildren(form);
  };
  showProfile(me || currentMe());
  return h('div', {}, h('h1', {}, t('nav.my_account')), tabs('profile'), view);
}

// contracts lists the contracts the user is declared on.
export async function contracts() {
  const list = listView({
    id: 'my-contracts',
    load: (q) => get('/me/contracts', q),
    columns: [
      { key: 'name', label: t('contract.name') },
      { key: 'id', label: t('contract.id') },
      { key: 'offer', label: t('contract.offer') },
      { key: 'platform_id', label: t('contract.platform_id') },
      { key: 'open', label: '', sort: false, value: (c) => h('a', { href: link(['contracts', c.id]), class: 'open-contract' }, t('contract.see'), ' ›') },
    ],
    empty: t('home.no_contract'),
  });
  return h('div', {}, h('h1', {}, t('nav.my_contracts')), tabs('contracts'), list.el);
}

// orderColumns are the columns of order lists; withContract adds the contract.
export function orderColumns(withContract) {
  return [
    { key: 'placed_at', label: t('orders.date'), value: (o) => fmt.dateTime(o.placed_at) },
    { key: 'ref', label: t('orders.ref') },
    { key: 'name', label: t('orders.name'), value: fmt.orderName },
    { key: 'price', label: t('orders.price'), value: priceText },
    withContract ? { key: 'contract_id', label: t('orders.contract'), value: (o) => o.contract_name || o.contract_id || o.contract || '' } : null,
    { key: 'placed_by', label: t('orders.by') },
    { key: 'status', label: t('orders.status'), value: (o) => h('span', { class: `status status-${o.status}` }, fmt.status(o.status)) },
  ].filter(Boolean);
}

// orderDetail shows an order's parameters and prices.
export function orderDetail(o) {
  const params = o.parameters || {};
  return h('div', { class: 'order-detail' },
    h('h3', {}, t('orders.parameters')),
    dl([
      [t('orders.ref'), o.ref],
      [t('orders.service_code'), o.service_code],
      ...Object.entries(params).map(([k, v]) => [t(`param.${k}`, {}, k), fmt.paramText(k, v)]),
      [t('subscriptions.initial_payment'), o.initial_payment ? fmt.money(o.initial_payment) : null],
      [t('subscriptions.monthly_price'), o.monthly_price ? fmt.monthly(o.monthly_price) : null],
    ]));
}

// orders lists the user's orders across contracts.
export async function orders() {
  const list = listView({
    id: 'my-orders',
    key: (o) => o.ref,
    load: (q) => get('/me/orders', q),
    columns: orderColumns(true),
    detail: orderDetail,
    initial: { sort: '-placed_at' },
    empty: t('orders.none'),
  });
  return h('div', {}, h('h1', {}, t('nav.my_orders')), tabs('orders'), h('p', { class: 'hint' }, t('orders.mine_hint')), list.el);
}

// subscriptionColumns are the columns of subscription lists.
export function subscriptionColumns(withContract) {
  return [
    { key: 'subscribed_at', label: t('subscriptions.subscribed_at'), value: (s) => fmt.dateTime(s.subscribed_at) },
    { key: 'ref', label: t('orders.ref') },
    { key: 'name', label: t('orders.name') },
    { key: 'monthly_price', label: t('orders.price'), value: (s) => (s.monthly_price ? fmt.monthly(s.monthly_price) : '') },
    { key: 'start_date', label: t('subscriptions.start'), value: (s) => fmt.date(s.start_date) },
    { key: 'end_date', label: t('subscriptions.end'), value: (s) => fmt.date(s.end_date) },
    withContract ? { key: 'contract_id', label: t('orders.contract'), value: (s) => s.contract_name || s.contract_id || s.contract || '' } : null,
    { key: 'status', label: t('orders.status'), value: (s) => h('span', { class: `status status-${s.status}` }, fmt.status(s.status)) },
  ].filter(Boolean);
}

// subscriptionDetail shows a subscription's parameters (orderLink: a link
// to its order, when the user may see orders).
export function subscriptionDetail(s, orderLink) {
  return h('div', { class: 'subscription-detail' },
    h('h3', {}, t('subscriptions.parameters')),
    dl([
      [t('orders.name'), s.name],
      [t('subscriptions.type'), s.type],
      [t('subscriptions.duration'), s.duration_months ? t('order.months', { n: s.duration_months }) : null],
      [t('subscriptions.initial_payment'), s.initial_payment ? fmt.money(s.initial_payment) : null],
      [t('param.region'), s.region],
      [t('subscriptions.order'), s.order_ref ? (orderLink ? h('a', { href: orderLink(s) }, s.order_ref) : s.order_ref) : null],
    ]));
}

// subscriptions lists the user's validated subscriptions across contracts.
export async function subscriptions() {
  const list = listView({
    id: 'my-subscriptions',
    key: (x) => x.ref,
    load: (q) => get('/me/subscriptions', q),
    columns: subscriptionColumns(true),
    detail: (s) => subscriptionDetail(s),
    initial: { sort: '-subscribed_at' },
    empty: t('subscriptions.none'),
  });
  return h('div', {}, h('h1', {}, t('nav.my_subscriptions')), tabs('subscriptions'), list.el);
}

// confirmEmail applies a change of email with the token of the link sent
// to the new address (SPEC §10); the link may be opened signed out.
export function confirmEmail(ctx) {
  const token = ctx.query.get('token') || '';
  if (ctx.query.has('token')) history.replaceState(null, '', `/${link(['confirm-email'])}`);
  const box = h('section', { class: 'card narrow', id: 'confirm-email' }, h('h1', {}, t('account.email_confirm_title')));
  if (!token) {
    box.append(h('p', { class: 'error', role: 'alert' }, t('account.email_link_gone')));
    return box;
  }
  const status = h('p', { role: 'status' }, t('account.email_confirming'));
  box.append(status);
  request('POST', '/email-confirmations', { body: { token } }).then(({ data }) => {
    status.replaceWith(h('p', { role: 'status', id: 'email-confirmed' }, t('account.email_confirmed', { email: data.email })));
    box.append(h('div', { class: 'buttons' }, h('a', { href: '#/account', class: 'button primary' }, t('nav.my_account'))));
  }).catch((e) => {
    const msg = e instanceof ApiError && e.status === 410 ? t('account.email_link_gone')
      : e instanceof ApiError && e.status === 409 ? t('account.email_taken') : problemText(e);
    status.replaceWith(h('p', { class: 'error', role: 'alert', id: 'email-not-confirmed' }, msg));
  });
  return box;
}
