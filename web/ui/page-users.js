// Users (guide §5.9): the customer-area users and the console users of a
// contract; adding one (three steps: person, roles, summary), changing
// roles, removing a user.

import { h, dl } from './dom.js';
import { request, get, enc, ApiError } from './api.js';
import { t } from './i18n.js';
import { link, go } from './router.js';
import { listView } from './list.js';
import { alertBox, say, hush, showErrors, clearErrors, busy, problemText, confirmDialog, infoDialog, field, input, select } from './forms.js';
import { iconButton, icon } from './icons.js';
import {
  personFields, personValue, checkPerson, personSummary, profilesFields, profilesValue, consoleFields, consoleValue,
  rolesTable, SECTION_PROFILES, profileLabel,
} from './people.js';
import { notify } from './state.js';
import * as fmt from './format.js';

const api = (ctx, ...rest) => `/contracts/${enc(ctx.cid)}/${rest.join('/')}`;

function tabs(ctx, current) {
  const items = [];
  if (ctx.can('list_users')) items.push(['users', t('users.tab_users')]);
  if (ctx.can('list_console_users')) items.push(['console-users', t('users.tab_console')]);
  if (ctx.can('see_role_history')) items.push(['users/history', t('history.tab')]);
  return h('nav', { class: 'tabs', 'aria-label': t('section.users') }, h('ul', {},
    items.map(([k, label]) => h('li', {}, h('a', { href: link(['contracts', ctx.cid, ...k.split('/')]), 'aria-current': k === current ? 'page' : null, dataset: { tab: k } }, label)))));
}

function nameOf(u) {
  return `${u.first_name || ''} ${(u.last_name || '').toUpperCase()}`.trim() || u.login;
}

// list is the customer-area users of the contract.
export async function list(ctx) {
  const view = listView({
    id: 'users',
    key: (u) => u.login,
    load: (q) => get(api(ctx, 'users'), q),
    columns: [
      { key: 'login', label: t('field.login'), value: (u) => [u.login, u.referent ? [' ', h('span', { class: 'badge', title: t('contract.referent') }, t('users.referent'))] : null] },
      { key: 'last_name', label: t('field.last_name') },
      { key: 'first_name', label: t('field.first_name') },
      { key: 'email', label: t('field.email') },
      { key: 'created_on', label: t('users.created_on'), value: (u) => fmt.date(u.created_on) },
    ],
    detail: (u) => rolesTable(u.profiles || {}, u.console || []),
    actions: (u) => [
      iconButton('view', t('users.view_profile', { login: u.login }), { class: 'view-user', onclick: () => showProfile(u) }),
      ctx.can('change_roles') ? iconButton('edit', t('users.edit_roles_of', { login: u.login }), { href: link(['contracts', ctx.cid, 'users', u.login, 'roles']), class: 'edit-roles' }, 'a') : null,
      ctx.can('remove_user') && !u.referent ? iconButton('remove', t('users.remove_user', { login: u.login }), { class: 'danger remove-user', onclick: () => remove(ctx, u) }) : null,
    ],
    initial: { sort: 'login' },
    empty: t('users.none'),
  });
  return h('div', {}, h('h1', {}, t('section.users')), tabs(ctx, 'users'),
    ctx.can('add_user') ? h('p', { class: 'buttons' }, h('a', { href: link(['contracts', ctx.cid, 'users', 'new']), class: 'button primary', id: 'add-user' }, t('users.add'))) : null,
    view.el);
}

// showProfile opens a user's profile and roles in a dialog.
function showProfile(u) {
  infoDialog('user-profile', t('users.profile_of', { name: nameOf(u) }),
    u.referent ? h('p', { class: 'badge' }, t('contract.referent')) : null,
    dl(personSummary(u)), h('h3', {}, t('users.roles')),
    rolesTable(u.profiles || {}, u.console || []));
}

async function remove(ctx, u) {
  const ok = await confirmDialog(t('users.remove_confirm', { name: nameOf(u), login: u.login, contract: ctx.cid }), t('users.remove'));
  if (!ok) return;
  try {
    await request('DELETE', api(ctx, 'users', enc(u.login)));
    notify('ok', t('users.removed', { login: u.login }));
  } catch (e) {
    notify('error', e instanceof ApiError && e.status === 409 ? t('users.cannot_remove_referent') : problemText(e));
  }
  go(link(['contracts', ctx.cid, 'users']));
}

// consoleList is the console users of the contract.
export async function consoleList(ctx) {
  const view = listView({
    id: 'console-users',
    key: (u) => u.login,
    load: (q) => get(api(ctx, 'console-users'), q),
    columns: [
      { key: 'login', label: t('field.login') },
      { key: 'last_name', label: t('field.last_name') },
      { key: 'first_name', label: t('field.first_name') },
      { key: 'email', label: t('field.email') },
      { key: 'console', label: t('roles.console'), sort: false, value: (u) => (u.console || []).join(', ') },
    ],
    detail: (u) => h('div', {}, h('h3', {}, t('users.console_profile', { name: nameOf(u) })), dl([[t('roles.console'), (u.console || []).join(', ') || t('roles.no_role')]])),
    actions: (u) => ctx.can('change_console_roles')
      ? iconButton('edit', t('users.edit_roles_of', { login: u.login }), { href: link(['contracts', ctx.cid, 'console-users', u.login, 'roles']), class: 'edit-console-roles' }, 'a') : null,
    initial: { sort: 'login' },
    empty: t('users.none_console'),
  });
  return h('div', {}, h('h1', {}, t('section.users')), tabs(ctx, 'console-users'),
    ctx.can('add_console_user') ? h('p', { class: 'buttons' }, h('a', { href: link(['contracts', ctx.cid, 'console-users', 'new']), class: 'button primary', id: 'add-console-user' }, t('users.add_console'))) : null,
    view.el);
}

async function consoleRoles(ctx) {
  const res = await get(api(ctx, 'console-roles'));
  return Array.isArray(res) ? res : (res && res.items) || [];
}

// wizard is the guide's three-step form (1. user, 2. roles, 3. summary):
// each step checks its fields before the next; server errors bring back
// the step of the first bad field.
function wizard({ id, title, steps, summary, submit, finishLabel }) {
  const box = alertBox(`${id}-error`);
  const stepNav = h('ol', { class: 'steps' }, steps.map((s, i) => h('li', { dataset: { step: i } }, s.title)));
  const sections = steps.map((s, i) => h('section', { class: 'step', dataset: { step: i }, hidden: i > 0 }, s.body));
  const summaryStep = h('section', { class: 'step', dataset: { step: steps.length }, hidden: true });
  stepNav.append(h('li', { dataset: { step: steps.length } }, t('users.step_summary')));
  const back = h('button', { type: 'button', id: `${id}-back` }, t('action.previous'));
  const next = h('button', { type: 'button', class: 'primary', id: `${id}-next` }, t('action.next'));
  const finish = h('button', { type: 'submit', class: 'primary', id: `${id}-finish` }, finishLabel || t('action.finish'));
  const form = h('form', { id, novalidate: true }, h('h1', {}, title), stepNav, box, sections, summaryStep,
    h('p', { class: 'hint' }, t('form.required_note')), h('div', { class: 'buttons' }, back, next, finish));
  let current = 0;
  const show = (n) => {
    current = n;
    [...sections, summaryStep].forEach((s, i) => { s.hidden = i !== n; });
    stepNav.querySelectorAll('li').forEach((li, i) => li.setAttribute('aria-current', i === n ? 'step' : 'false'));
    back.hidden = n === 0;
    next.hidden = n === steps.length;
    finish.hidden = n !== steps.length;
    if (n === steps.length) summaryStep.replaceChildren(...[summary()].flat());
  };
  back.addEventListener('click', () => { hush(box); show(current - 1); });
  next.addEventListener('click', () => {
    clearErrors(form);
    hush(box);
    const errors = steps[current].check ? steps[current].check() : [];
    if (errors.length) {
      showErrors(form, box, { errors });
      return;
    }
    show(current + 1);
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (current !== steps.length) {
      next.click();
      return;
    }
    clearErrors(form);
    hush(box);
    try {
      await busy(finish, submit());
    } catch (e) {
      // Show the step holding the first field in error.
      const names = (e.errors || []).map((x) => x.field || '');
      const step = steps.findIndex((s) => names.some((n) => s.fields && s.fields(n)));
      if (step >= 0) show(step);
      showErrors(form, box, e);
    }
  });
  show(0);
  return form;
}

// notifyAdded tells the outcome of an addition: the user added, or (as
// information) the existing identity whose email was given, used instead
// of the login typed (SPEC §1; the API says so with existing_identity).
function notifyAdded(data, body) {
  if (data.existing_identity) notify('info', t('users.added_existing', { login: data.login, email: body.email }));
  else notify('ok', t('users.added', { login: data.login }));
}

const personField = (n) => ['civility', 'last_name', 'first_name', 'login', 'email', 'phone', 'mobile', 'language'].includes(n);

// add is the form adding a user: person, profiles and console roles.
export async function add(ctx) {
  let roles = [];
  let rolesError = null;
  try {
    roles = await consoleRoles(ctx);
  } catch (e) {
    rolesError = problemText(e);
  }
  let form;
  const profilesBox = profilesFields('add-user');
  form = wizard({
    id: 'add-user-form',
    title: t('users.add_title', { contract: ctx.cid }),
    steps: [
      { title: t('users.step_user'), body: personFields('add-user', {}, { withLogin: true }),
        check: () => checkPerson(personValue(form, { withLogin: true }), { withLogin: true }), fields: personField },
      { title: t('users.step_roles'), body: [h('p', {}, t('users.roles_intro')), profilesBox,
        rolesError ? h('p', { class: 'error' }, rolesError) : consoleFields('add-user', roles)],
      fields: (n) => n.startsWith('profiles') || n.startsWith('console') },
    ],
    summary: () => {
      const p = personValue(form, { withLogin: true });
      return [h('h2', {}, t('users.step_user')), dl(personSummary(p)),
        h('h2', {}, t('users.step_roles')), rolesTable(profilesValue(form), consoleValue(form), 'add-user-summary-roles')];
    },
    submit: async () => {
      const body = { ...personValue(form, { withLogin: true }), profiles: profilesValue(form), console: consoleValue(form) };
      const { data } = await request('POST', api(ctx, 'users'), { body, idempotencyKey: true });
      notifyAdded(data, body);
      go(link(['contracts', ctx.cid, 'users']));
    },
  });
  return form;
}

// addConsole is the form adding a console user: person and console roles.
export async function addConsole(ctx) {
  const roles = await consoleRoles(ctx);
  let form;
  form = wizard({
    id: 'add-console-user-form',
    title: t('users.add_console_title', { contract: ctx.cid }),
    steps: [
      { title: t('users.step_user'), body: personFields('add-console-user', {}, { withLogin: true }),
        check: () => checkPerson(personValue(form, { withLogin: true }), { withLogin: true }), fields: personField },
      { title: t('users.step_roles'), body: [h('p', {}, t('users.console_roles_intro')), consoleFields('add-console-user', roles)],
        check: () => (consoleValue(form).length ? [] : [{ field: 'console', code: 'console_role_required' }]),
        fields: (n) => n.startsWith('console') },
    ],
    summary: () => [h('h2', {}, t('users.step_user')), dl(personSummary(personValue(form, { withLogin: true }))),
      h('h2', {}, t('users.step_roles')), dl([[t('roles.console'), consoleValue(form).join(', ')]])],
    submit: async () => {
      const body = { ...personValue(form, { withLogin: true }), console: consoleValue(form) };
      const { data } = await request('POST', api(ctx, 'console-users'), { body, idempotencyKey: true });
      notifyAdded(data, body);
      go(link(['contracts', ctx.cid, 'console-users']));
    },
  });
  return form;
}

// editRoles changes a user's profiles and console roles; the ETag read
// guards against overwriting someone else's change (If-Match).
export async function editRoles(ctx) {
  const [{ data: u, etag }, roles] = await Promise.all([request('GET', api(ctx, 'users', enc(ctx.params.login))), consoleRoles(ctx)]);
  const locked = u.referent ? ['contract', 'users'] : [];
  const box = alertBox('roles-error');
  const save = h('button', { type: 'submit', class: 'primary', id: 'roles-save' }, t('action.save'));
  const form = h('form', { id: 'roles-form', novalidate: true },
    h('h1', {}, t('users.edit_title', { name: nameOf(u), login: u.login })),
    box, dl(personSummary(u)),
    u.referent ? h('p', { class: 'hint' }, t('users.referent_locked')) : null,
    profilesFields('roles', u.profiles || {}, locked), consoleFields('roles', roles, u.console || []),
    h('div', { class: 'buttons' }, h('a', { href: link(['contracts', ctx.cid, 'users']), class: 'button' }, t('action.cancel')), save));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hush(box);
    try {
      await busy(save, request('PUT', api(ctx, 'users', enc(u.login), 'roles'), {
        body: { profiles: profilesValue(form), console: consoleValue(form) }, ifMatch: etag,
      }));
      notify('ok', t('users.roles_saved', { login: u.login }));
      go(link(['contracts', ctx.cid, 'users']));
    } catch (e) {
      if (e instanceof ApiError && (e.status === 409 || e.status === 412)) {
        say(box, 'error', t('users.stale'), ' ', h('a', { href: location.hash, onclick: (ev2) => { ev2.preventDefault(); go(location.hash); } }, t('action.reload')));
        return;
      }
      showErrors(form, box, e);
    }
  });
  return form;
}

// editConsoleRoles changes a user's console roles only (console managers).
export async function editConsoleRoles(ctx) {
  const [res, roles] = await Promise.all([get(api(ctx, 'console-users'), { q: ctx.params.login, limit: 50 }), consoleRoles(ctx)]);
  const u = ((res && res.items) || []).find((x) => String(x.login).toLowerCase() === ctx.params.login.toLowerCase());
  if (!u) throw new ApiError(404, { title: 'not found' });
  const box = alertBox('console-roles-error');
  const save = h('button', { type: 'submit', class: 'primary', id: 'console-roles-save' }, t('action.save'));
  const form = h('form', { id: 'console-roles-form', novalidate: true },
    h('h1', {}, t('users.edit_title', { name: nameOf(u), login: u.login })), box,
    consoleFields('console-roles', roles, u.console || []),
    h('p', { class: 'hint' }, t('users.console_remove_all')),
    h('div', { class: 'buttons' }, h('a', { href: link(['contracts', ctx.cid, 'console-users']), class: 'button' }, t('action.cancel')), save));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hush(box);
    try {
      await busy(save, request('PUT', api(ctx, 'console-users', enc(u.login), 'roles'), { body: { console: consoleValue(form) } }));
      notify('ok', t('users.roles_saved', { login: u.login }));
      go(link(['contracts', ctx.cid, 'console-users']));
    } catch (e) {
      showErrors(form, box, e);
    }
  });
  return form;
}


// roleHistory is the role changes of the contract's users (who changed
// what, before → after, from where, when), filtered by user and period
// and exported as CSV by the audit API; and a user's roles as of an
// instant.
export async function roleHistory(ctx) {
  const res = await get(api(ctx, 'users'), { limit: 100, sort: 'login' });
  const logins = ((res && res.items) || []).map((u) => u.login);
  const user = select('history', 'user', [['', t('history.all_users')], ...logins.map((l) => [l, l])], ctx.query.get('user') || '');
  const from = input('history', 'from', { type: 'date' });
  const to = input('history', 'to', { type: 'date' });
  const box = alertBox('history-error');
  const filter = () => ({ contract: ctx.cid, user: user.value, from: from.value, to: to.value });
  const list = listView({
    id: 'role-changes',
    key: (c) => String(c.position),
    load: (q) => get('/audit/role-changes', { ...q, ...filter() }),
    columns: [
      { key: 'occurred_at', label: t('history.when'), value: (c) => h('time', { datetime: c.occurred_at }, fmt.dateTime(c.occurred_at)) },
      { key: 'user', label: t('field.login') },
      { key: 'change', label: t('history.change'), value: (c) => t(`history.change.${c.change}`, {}, c.change) },
      { key: 'diff', label: t('history.before_after'), sort: false, value: (c) => roleDiff(c.before, c.after) },
      { key: 'actor', label: t('history.actor') },
      { key: 'source_ip', label: t('history.source'), sort: false, value: (c) => c.source_ip || '—' },
    ],
    initial: { sort: '-occurred_at' },
    searchLabel: t('history.search'),
    empty: t('history.none'),
  });
  const apply = h('button', { type: 'submit', class: 'primary', id: 'history-apply' }, t('history.apply'));
  const exportButton = h('button', { type: 'button', id: 'history-csv' }, icon('download'), ' ', t('history.csv'));
  exportButton.addEventListener('click', async () => {
    hush(box);
    try {
      const { data } = await busy(exportButton, request('GET', '/audit/role-changes', { query: { ...filter(), format: 'csv' }, accept: 'text/csv' }));
      const a = h('a', { href: URL.createObjectURL(data), download: `role-changes-${ctx.cid}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      say(box, 'error', problemText(e));
    }
  });
  const form = h('form', { class: 'toolbar filters', id: 'history-filter', novalidate: true },
    field(t('field.login'), user), field(t('history.from'), from), field(t('history.to'), to),
    h('div', { class: 'buttons' }, apply, exportButton));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    hush(box);
    if (from.value && to.value && from.value > to.value) {
      say(box, 'error', t('history.bad_period'));
      return;
    }
    list.restart();
  });
  return h('div', {}, h('h1', {}, t('section.users')), tabs(ctx, 'users/history'),
    h('section', { class: 'block', id: 'role-history' }, h('h2', {}, t('history.title')), h('p', {}, t('history.intro')),
      box, form, list.el),
    rolesAsOfBlock(ctx, logins));
}

// roleDiff shows what a change did: each section whose profile moved,
// and the console roles, before → after.
function roleDiff(before, after) {
  const b = (before && before.profiles) || {};
  const a = (after && after.profiles) || {};
  const rows = [];
  for (const [section] of SECTION_PROFILES) {
    const x = b[section] || 'none';
    const y = a[section] || 'none';
    if (x !== y || !before || !after) {
      if (!before && y === 'none') continue;
      if (!after && x === 'none') continue;
      rows.push(h('li', { dataset: { section } }, h('span', { class: 'what' }, t(`section.${section}`)), ' ',
        before ? profileLabel(x) : '—', ' → ', after ? profileLabel(y) : '—'));
    }
  }
  const cb = ((before && before.console) || []).join(', ');
  const ca = ((after && after.console) || []).join(', ');
  if (cb !== ca) {
    rows.push(h('li', { dataset: { section: 'console' } }, h('span', { class: 'what' }, t('roles.console')), ' ',
      cb || t('roles.no_role'), ' → ', ca || t('roles.no_role')));
  }
  return rows.length ? h('ul', { class: 'diff' }, rows) : '—';
}

// rolesAsOfBlock shows a user's roles at a date and time picked (GET
// .../users/{login}/roles?as_of=).
function rolesAsOfBlock(ctx, logins) {
  const user = select('as-of', 'user', logins.map((l) => [l, l]), ctx.query.get('user') || logins[0] || '');
  const at = input('as-of', 'at', { type: 'datetime-local', required: true, step: 60 });
  const out = h('div', { id: 'roles-as-of-result', 'aria-live': 'polite' });
  const box = alertBox('as-of-error');
  const submit = h('button', { type: 'submit', class: 'primary', id: 'as-of-submit' }, t('history.show_roles'));
  const form = h('form', { class: 'toolbar filters', id: 'as-of-form', novalidate: true },
    field(t('field.login'), user), field(t('history.at'), at, { required: true }), h('div', { class: 'buttons' }, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hush(box);
    out.replaceChildren();
    const when = new Date(at.value);
    if (!at.value || isNaN(when)) {
      showErrors(form, box, { errors: [{ field: 'at', code: 'required' }] });
      return;
    }
    const asOf = when.toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      const r = await busy(submit, get(api(ctx, 'users', enc(user.value), 'roles'), { as_of: asOf }));
      out.replaceChildren(h('p', { class: 'lead' }, t('history.roles_at', { login: user.value, at: fmt.dateTime(asOf) })),
        r.profiles ? rolesTable(r.profiles, r.console || [], 'as-of-roles') : h('p', { id: 'as-of-absent' }, t('history.not_on_contract')));
    } catch (e) {
      say(box, 'error', e instanceof ApiError && e.status === 404 ? t('history.never_on_contract', { login: user.value }) : problemText(e));
    }
  });
  return h('section', { class: 'block', id: 'roles-as-of' }, h('h2', {}, t('history.as_of_title')), h('p', {}, t('history.as_of_intro')), box, form, out);
}
