// People and their roles: the person form (My account, adding a user), the
// profiles each section accepts (SPEC §2) and the roles form.

import { h } from './dom.js';
import { t, lang } from './i18n.js';
import { field, input, radios, select } from './forms.js';

// SECTION_PROFILES: the profiles each section accepts, weakest first, and
// the default of a new user (SPEC §2).
export const SECTION_PROFILES = [
  ['contract', ['visitor', 'manager'], 'manager'],
  ['dashboard', ['none', 'visitor'], 'none'],
  ['orders', ['none', 'visitor'], 'none'],
  ['subscriptions', ['none', 'visitor', 'manager'], 'none'],
  ['services', ['none', 'visitor', 'manager'], 'none'],
  ['invoices', ['none', 'visitor', 'manager'], 'none'],
  ['support', ['none', 'visitor', 'manager'], 'none'],
  ['users', ['none', 'visitor', 'console_manager', 'manager'], 'none'],
];

// profileLabel names a profile: "Manager", "Gestionnaire".
export const profileLabel = (p) => t(`profile.${p}`, {}, p);

// personFields are the inputs of a person; values prefill them. With
// withLogin the login is asked too (a new user).
export function personFields(prefix, values = {}, { withLogin = false } = {}) {
  const v = (k) => values[k] || '';
  const phone = input(prefix, 'phone', { type: 'tel', autocomplete: 'tel', value: v('phone') });
  const mobile = input(prefix, 'mobile', { type: 'tel', autocomplete: 'tel', value: v('mobile') });
  // One number at least: each becomes required, and shows it, while the
  // other is empty.
  const phoneField = field(t('field.phone'), phone, { hint: t('field.phone_hint') });
  const mobileField = field(t('field.mobile'), mobile);
  const marks = [[phone, phoneField, mobile], [mobile, mobileField, phone]].map(([control, box]) => {
    const mark = h('span', { class: 'req', 'aria-hidden': 'true' }, ' *');
    box.querySelector('label').append(mark);
    return [control, mark];
  });
  const requiredNow = () => marks.forEach(([control, mark], i) => {
    const other = marks[1 - i][0];
    const needed = !other.value.trim();
    control.required = needed;
    mark.hidden = !needed;
  });
  phone.addEventListener('input', requiredNow);
  mobile.addEventListener('input', requiredNow);
  requiredNow();
  return [
    radios(prefix, 'civility', t('field.civility'), [['mrs', t('civility.mrs')], ['mr', t('civility.mr')]], v('civility'), { required: true }),
    field(t('field.last_name'), input(prefix, 'last_name', { required: true, autocomplete: 'family-name', value: v('last_name'), maxlength: 100 }), { required: true }),
    field(t('field.first_name'), input(prefix, 'first_name', { required: true, autocomplete: 'given-name', value: v('first_name'), maxlength: 100 }), { required: true }),
    withLogin ? field(t('field.login'), input(prefix, 'login', {
      required: true, value: v('login'), minlength: 8, maxlength: 64, pattern: '[A-Za-z0-9._\\-]{8,64}', autocapitalize: 'none', spellcheck: 'false',
    }), { required: true, hint: t('field.login_hint') }) : null,
    field(t('field.email'), input(prefix, 'email', { type: 'email', required: true, autocomplete: 'email', value: v('email') }), { required: true, hint: withLogin ? t('field.email_hint') : null }),
    phoneField,
    mobileField,
    radios(prefix, 'language', t('field.language'), [['fr', t('language.fr')], ['en', t('language.en')]], v('language') || lang()),
  ];
}

// personValue reads the person fields of form.
export function personValue(form, { withLogin = false } = {}) {
  const get = (n) => {
    const el = form.elements.namedItem(n);
    return el ? String(el.value || '').trim() : '';
  };
  const out = {
    civility: get('civility'), last_name: get('last_name'), first_name: get('first_name'),
    email: get('email'), phone: get('phone'), mobile: get('mobile'), language: get('language'),
  };
  if (withLogin) out.login = get('login');
  return out;
}

// checkPerson returns the field errors the browser can tell before the
// server does (required fields, one phone at least, login format).
export function checkPerson(p, { withLogin = false } = {}) {
  const errors = [];
  for (const f of ['civility', 'last_name', 'first_name', 'email']) if (!p[f]) errors.push({ field: f, code: 'required' });
  if (withLogin && !/^[A-Za-z0-9._-]{8,64}$/.test(p.login)) errors.push({ field: 'login', code: p.login ? 'invalid_login' : 'required' });
  if (p.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(p.email)) errors.push({ field: 'email', code: 'invalid_email' });
  if (!p.phone && !p.mobile) errors.push({ field: 'phone', code: 'phone_or_mobile_required' });
  return errors;
}

// personSummary shows a person's data.
export function personSummary(p, { withLogin = true } = {}) {
  return [
    [t('field.civility'), p.civility ? t(`civility.${p.civility}`, {}, p.civility) : null, 'civility'],
    [t('field.last_name'), p.last_name, 'last_name'],
    [t('field.first_name'), p.first_name, 'first_name'],
    withLogin ? [t('field.login'), p.login, 'login'] : [null, null],
    [t('field.email'), p.email, 'email'],
    [t('field.phone'), p.phone === undefined ? null : p.phone || '—', 'phone'],
    [t('field.mobile'), p.mobile === undefined ? null : p.mobile || '—', 'mobile'],
    [t('field.language'), p.language ? t(`language.${p.language}`, {}, p.language) : null, 'language'],
  ];
}

// profilesFields are one select per section, limited to the profiles the
// section accepts; current prefills them (defaults otherwise). locked
// lists sections that may not change (the referent's).
export function profilesFields(prefix, current = {}, locked = []) {
  return h('table', { class: 'roles', id: `${prefix}-profiles` },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('roles.section')), h('th', { scope: 'col' }, t('roles.profile')))),
    h('tbody', {}, SECTION_PROFILES.map(([section, profiles, def]) => {
      const s = select(prefix, `profiles.${section}`, profiles.map((p) => [p, profileLabel(p)]), current[section] || def,
        { disabled: locked.includes(section), 'aria-label': t(`section.${section}`) });
      return h('tr', {}, h('th', { scope: 'row' }, h('label', { for: s.id }, t(`section.${section}`))), h('td', { dataset: { field: `profiles.${section}` } }, s));
    })));
}

// profilesValue reads the profile selects of form.
export function profilesValue(form) {
  const out = {};
  for (const [section] of SECTION_PROFILES) {
    const el = form.elements.namedItem(`profiles.${section}`);
    if (el) out[section] = el.value;
  }
  return out;
}

// consoleFields are a checkbox per console role of the contract
// (GET console-roles: [{name, kind}]); checked prefills them.
export function consoleFields(prefix, roles, checked = []) {
  const has = new Set(checked.map((r) => r.toLowerCase()));
  return h('fieldset', { class: 'console-roles', id: `${prefix}-console`, dataset: { field: 'console' } },
    h('legend', {}, t('roles.console')),
    h('p', { class: 'hint' }, t('roles.console_hint')),
    roles.length ? roles.map((r) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'console', value: r.name, checked: has.has(String(r.name).toLowerCase()) }), ' ',
      r.name, r.kind === 'group' ? h('small', {}, ` (${t('roles.group')})`) : null, ' ',
      h('small', { class: 'hint' }, t(`roles.about.${r.name}`, {}, '')))) : h('p', {}, t('roles.no_console_roles')));
}

// consoleValue reads the checked console roles of form.
export function consoleValue(form) {
  return [...form.querySelectorAll('input[name="console"]:checked')].map((c) => c.value);
}

// rolesTable shows profiles and console roles.
export function rolesTable(profiles = {}, consoleRoles = [], id) {
  return h('table', { class: 'roles', id },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('roles.section')), h('th', { scope: 'col' }, t('roles.profile')))),
    h('tbody', {},
      SECTION_PROFILES.map(([section]) => h('tr', { dataset: { section } },
        h('th', { scope: 'row' }, t(`section.${section}`)), h('td', {}, profileLabel(profiles[section] || 'none')))),
      h('tr', { dataset: { section: 'console' } }, h('th', { scope: 'row' }, t('roles.console')),
        h('td', {}, consoleRoles && consoleRoles.length ? consoleRoles.join(', ') : t('roles.no_role')))));
}
