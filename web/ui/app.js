// The customer area's single page: the shell (header, account menu,
// contract bar and section navigation), routing, and the rights that decide
// which sections and actions are offered. Every screen is a page function
// of one of the page-*.js modules: async (ctx) => Node.

import { h, replace, watchTables, externalLink } from './dom.js';
import { request, get, session, onSessionEnded, ApiError, enc } from './api.js';
import { t, lang, setLang, initLang } from './i18n.js';
import { parse, match, link, go } from './router.js';
import { problemText } from './forms.js';
import { logo } from './icons.js';
import { notify, takeFlash, loadMe, meKnown, forgetMe, currentMe, setMe, rememberNext, setRenderer } from './state.js';
import * as auth from './page-auth.js';
import * as account from './page-account.js';
import * as contract from './page-contract.js';
import * as users from './page-users.js';
import * as services from './page-services.js';
import * as consolePage from './page-console.js';

// sections of a contract, in the order of the guide's navigation bar, with
// the capabilities (any of) that open each.
export const sections = [
  { key: 'contract', path: [], needs: ['see_contract'] },
  { key: 'dashboard', path: ['dashboard'], needs: ['see_dashboard'] },
  { key: 'services', path: ['services'], needs: ['see_catalog'] },
  { key: 'orders', path: ['orders'], needs: ['list_orders'] },
  { key: 'subscriptions', path: ['subscriptions'], needs: ['list_subscriptions'] },
  { key: 'invoices', path: ['invoices'], needs: ['see_invoice_contact'] },
  { key: 'support', path: ['support'], needs: ['see_support'] },
  { key: 'users', path: ['users'], needs: ['list_users', 'list_console_users'] },
  { key: 'console', path: ['console', 'credentials'], needs: ['use_console'] },
];

// routes: anonymous pages are for signed-out visitors only, public ones for
// anyone, the others need a session. needs: the capabilities (any of) on
// the route's contract; section: which navigation entry is current.
const routes = [
  { path: '/sign-in', page: auth.signIn, anonymous: true },
  { path: '/forgot-password', page: auth.forgotPassword, anonymous: true },
  { path: '/forgot-login', page: auth.forgotLogin, anonymous: true },
  { path: '/set-password', page: auth.setPassword, public: true },
  { path: '/confirm-email', page: account.confirmEmail, public: true },

  { path: '/', page: account.home },
  { path: '/account', page: account.profile, mine: 'profile' },
  { path: '/account/contracts', page: account.contracts, mine: 'contracts' },
  { path: '/account/orders', page: account.orders, mine: 'orders' },
  { path: '/account/subscriptions', page: account.subscriptions, mine: 'subscriptions' },

  { path: '/contracts/:cid', page: contract.summary, section: 'contract', needs: ['see_contract'] },
  { path: '/contracts/:cid/dashboard', page: contract.dashboard, section: 'dashboard', needs: ['see_dashboard'] },
  { path: '/contracts/:cid/services', page: services.catalog, section: 'services', needs: ['see_catalog'] },
  { path: '/contracts/:cid/services/:code', page: services.detail, section: 'services', needs: ['see_catalog'] },
  { path: '/contracts/:cid/services/:code/order', page: services.order, section: 'services', needs: ['place_order'] },
  { path: '/contracts/:cid/orders', page: contract.orders, section: 'orders', needs: ['list_orders'] },
  { path: '/contracts/:cid/subscriptions', page: contract.subscriptions, section: 'subscriptions', needs: ['list_subscriptions'] },
  { path: '/contracts/:cid/invoices', page: contract.invoices, section: 'invoices', needs: ['see_invoice_contact'] },
  { path: '/contracts/:cid/invoices/:id', page: contract.invoiceDocument, section: 'invoices', needs: ['see_invoices'] },
  { path: '/contracts/:cid/usage-reports/:period', page: contract.usageDocument, section: 'invoices', needs: ['see_usage_reports'] },
  { path: '/contracts/:cid/pre-invoices/:period', page: contract.usageDocument, section: 'invoices', needs: ['see_usage_reports'] },
  { path: '/contracts/:cid/support', page: contract.support, section: 'support', needs: ['see_support'] },
  { path: '/contracts/:cid/users', page: users.list, section: 'users', needs: ['list_users'] },
  { path: '/contracts/:cid/users/new', page: users.add, section: 'users', needs: ['add_user'] },
  { path: '/contracts/:cid/users/history', page: users.roleHistory, section: 'users', needs: ['see_role_history'] },
  { path: '/contracts/:cid/users/:login/roles', page: users.editRoles, section: 'users', needs: ['change_roles'] },
  { path: '/contracts/:cid/console-users', page: users.consoleList, section: 'users', needs: ['list_console_users'] },
  { path: '/contracts/:cid/console-users/new', page: users.addConsole, section: 'users', needs: ['add_console_user'] },
  { path: '/contracts/:cid/console-users/:login/roles', page: users.editConsoleRoles, section: 'users', needs: ['change_console_roles'] },
  { path: '/contracts/:cid/console/credentials', page: consolePage.credentials, section: 'console', needs: ['use_console'] },
];

let seq = 0; // the render in progress; an older one never mounts

// signOut ends the session on the server (best effort) and here.
export async function signOut() {
  try {
    await request('DELETE', '/sessions/current', { cookies: true }); // ends the provider session too
  } catch {
    // The session ends here whatever the server says.
  }
  session.clear();
  forgetMe();
  notify('info', t('auth.signed_out'));
  go('#/sign-in');
}

async function switchLanguage() {
  const to = lang() === 'fr' ? 'en' : 'fr';
  setLang(to);
  if (session.get()) {
    try {
      const { data } = await request('PATCH', '/me', { body: { language: to } });
      if (data) setMe(data);
    } catch {
      // The display follows the switch even if the profile keeps the old
      // language (or /me is not there).
    }
  }
  render();
}

function header(s) {
  const me = currentMe();
  const langButton = h('button', { type: 'button', id: 'lang-switch', lang: lang() === 'fr' ? 'en' : 'fr', onclick: switchLanguage },
    lang() === 'fr' ? 'English' : 'Français');
  const right = [langButton];
  if (s) {
    const name = me && (me.first_name || me.last_name) ? `${me.first_name || ''} ${(me.last_name || '').toUpperCase()}`.trim() : s.login;
    right.unshift(
      h('details', { class: 'menu', id: 'account-menu' },
        h('summary', { id: 'account-name' }, name),
        h('nav', { 'aria-label': t('nav.account') }, h('ul', {},
          h('li', {}, h('a', { href: '#/account' }, t('nav.my_account'))),
          h('li', {}, h('a', { href: '#/account/contracts' }, t('nav.my_contracts'))),
          h('li', {}, h('a', { href: '#/account/orders' }, t('nav.my_orders'))),
          h('li', {}, h('a', { href: '#/account/subscriptions' }, t('nav.my_subscriptions')))))),
      h('button', { type: 'button', id: 'sign-out', onclick: signOut }, t('auth.sign_out')));
  }
  return h('header', { class: 'top' },
    h('a', { class: 'skip-link', href: '#view', onclick: (ev) => {
      ev.preventDefault(); // the fragment is the route: focus the content instead
      document.getElementById('view')?.focus();
    } }, t('nav.skip')),
    h('a', { class: 'brand', href: '#/' }, logo(), h('span', {}, 'Cloud Store'), h('small', {}, t('app.customer_area'))),
    h('div', { class: 'top-right' }, right));
}

// contractBar is the contract's name and its sections, those the user's
// rights open only.
function contractBar(ctx, current) {
  const c = ctx.contract;
  const items = sections.filter((s) => ctx.canAny(s.needs)).map((s) => {
    let path = s.path;
    if (s.key === 'users' && !ctx.can('list_users')) path = ['console-users'];
    return h('li', {}, h('a', {
      href: link(['contracts', c.id, ...path]),
      dataset: { section: s.key },
      'aria-current': s.key === current ? 'page' : null,
    }, t(`section.${s.key}`)));
  });
  return h('div', { class: 'contract-bar' },
    h('p', { class: 'contract-name' }, h('span', { class: 'offer' }, c.offer), ' ',
      t('contract.label'), ' ', h('strong', {}, c.id), ` (${c.name})`, ' ',
      h('a', { href: '#/account/contracts', class: 'other' }, t('contract.other'))),
    h('nav', { id: 'sections', 'aria-label': t('nav.sections') }, h('ul', {}, items)));
}

// footerLinks are the guide's footer links, to Orange Business's pages.
const footerLinks = [
  ['footer.terms', 'https://www.orange-business.com/en/terms-of-sale'],
  ['footer.legal', 'https://www.orange-business.com/en/legal-notice'],
  ['footer.privacy', 'https://www.orange-business.com/en/privacy'],
];

function footer() {
  return h('footer', {}, h('div', { class: 'footer-in' },
    h('ul', { class: 'footer-links' }, footerLinks.map(([k, url]) => h('li', {}, externalLink(url, t(k), { dataset: { footer: k.slice(7) } })))),
    h('p', {}, '© Orange Business Services')));
}

function messageView(id, title, text, back) {
  return h('section', { class: 'message', id }, h('h1', {}, title), h('p', {}, text), back || null);
}

// contractContext reads a contract and the caller's rights on it.
async function contractContext(cid) {
  const [contractData, rights] = await Promise.all([get(`/contracts/${enc(cid)}`), get(`/contracts/${enc(cid)}/rights`)]);
  const caps = new Set(rights.capabilities || []);
  return {
    contract: contractData,
    rights,
    can: (c) => caps.has(c),
    canAny: (list) => list.some((c) => caps.has(c)),
  };
}

async function render() {
  const mine = ++seq;
  const root = document.getElementById('app');
  const { path, query } = parse(location.hash);

  // The set-password link of the emails may also come as /?token=...
  const search = new URLSearchParams(location.search);
  if (search.has('email_token')) {
    const token = search.get('email_token');
    history.replaceState(null, '', `/${link(['confirm-email'], { token })}`);
    return render();
  }
  if (search.has('token')) {
    const token = search.get('token');
    history.replaceState(null, '', `/${link(['set-password'], { token })}`);
    return render();
  }

  const m = match(routes, path);
  const s = session.get();
  if (m && m.route.anonymous && s) return go('#/');
  if ((!m || (!m.route.anonymous && !m.route.public)) && !s) {
    if (location.hash && location.hash !== '#/' && !location.hash.startsWith('#/sign-in')) rememberNext(location.hash);
    return go('#/sign-in');
  }
  if (s && !meKnown()) await loadMe();
  if (mine !== seq) return;
  document.documentElement.lang = lang();

  const ctx = { params: m ? m.params : {}, query, route: m && m.route, session: s, me: currentMe(), cid: m && m.params.cid };
  const main = h('main', { id: 'view', tabindex: '-1' }, h('p', { class: 'loading' }, t('app.loading')));
  const shell = [header(s)];
  let view;
  if (ctx.cid) {
    try {
      Object.assign(ctx, await contractContext(ctx.cid));
    } catch (e) {
      if (mine !== seq) return;
      view = e instanceof ApiError && e.status === 404
        ? messageView('contract-not-found', t('error.contract_not_found'), t('error.contract_not_found_text'), h('a', { href: '#/account/contracts' }, t('nav.my_contracts')))
        : messageView('failure', t('error.title'), problemText(e));
    }
    if (mine !== seq) return;
    if (ctx.contract) shell.push(contractBar(ctx, m.route.section));
  }
  shell.push(main, footer());
  replace(root, shell);
  root.removeAttribute('aria-busy');
  const flash = takeFlash();
  if (flash) main.before(h('div', { class: `flash alert alert-${flash.kind}`, role: 'status', id: 'flash' }, flash.text));

  if (!view) {
    if (!m) view = messageView('page-not-found', t('error.page_not_found'), t('error.page_not_found_text'), h('a', { href: '#/' }, t('nav.home')));
    else if (m.route.needs && !ctx.canAny(m.route.needs)) {
      view = h('section', { class: 'message', id: 'no-access' },
        h('h1', {}, t('error.no_access')), h('p', {}, t('error.no_access_text')),
        h('a', { href: link(['contracts', ctx.cid]) }, t('contract.back')));
    } else {
      try {
        view = await m.route.page(ctx);
      } catch (e) {
        view = messageView('failure', t('error.title'), problemText(e));
      }
    }
  }
  if (mine !== seq) return;
  replace(main, view);
  const title = main.querySelector('h1');
  document.title = `${title ? title.textContent + ' – ' : ''}${t('app.title')}`;
  if (title) main.focus({ preventScroll: true });
}

onSessionEnded(() => {
  seq++; // the screen being drawn needed the session: drop it
  forgetMe();
  notify('info', t('auth.session_ended'));
  if (!location.hash.startsWith('#/sign-in')) {
    rememberNext(location.hash);
    go('#/sign-in');
  }
});

setRenderer(render);

// Escape closes an open menu (and gives the focus back to its summary); a
// click elsewhere closes it too.
document.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Escape') return;
  for (const d of document.querySelectorAll('details.menu[open]')) {
    d.open = false;
    d.querySelector('summary')?.focus();
  }
});
document.addEventListener('click', (ev) => {
  for (const d of document.querySelectorAll('details.menu[open]')) if (!d.contains(ev.target)) d.open = false;
});

initLang();
watchTables(document.getElementById('app'));
window.addEventListener('hashchange', render);
render();
