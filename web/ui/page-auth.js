// Signing in, forgotten password, forgotten login and setting a password
// from the emailed link (SPEC §4, guide §3).

import { h } from './dom.js';
import { request, ApiError } from './api.js';
import { t } from './i18n.js';
import { link } from './router.js';
import { field, input, alertBox, say, hush, showErrors, busy, captcha, passwordRules, showPasswords, onNewPassword, onCaptchaPost, problemText } from './forms.js';
import { signedIn } from './state.js';

function welcome() {
  return h('div', { class: 'welcome' }, h('p', { class: 'lead' }, t('auth.welcome')));
}

// signIn is the sign-in form.
export function signIn() {
  const login = input('signin', 'login', { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = input('signin', 'password', { type: 'password', autocomplete: 'current-password', required: true });
  const box = alertBox('signin-error');
  const submit = h('button', { type: 'submit', id: 'signin-submit', class: 'primary' }, t('auth.sign_in'));
  const buttons = h('div', { class: 'buttons' }, submit);
  // After too many failed sign-ins of a login, the server asks for a
  // captcha (401 /problems/captcha-required): shown from then on.
  let cap = null;
  const form = h('form', { id: 'signin-form', class: 'card narrow', novalidate: true },
    h('h1', {}, t('auth.sign_in_title')), welcome(), box,
    field(t('field.login'), login, { required: true }),
    field(t('field.password'), password, { required: true }),
    buttons,
    h('p', { class: 'links' },
      h('a', { href: '#/forgot-password', id: 'forgot-password-link' }, t('auth.forgot_password')), h('br'),
      h('a', { href: '#/forgot-login', id: 'forgot-login-link' }, t('auth.forgot_login'))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hush(box);
    if (!login.value.trim() || !password.value) {
      say(box, 'error', t('auth.both_required'));
      return;
    }
    try {
      const body = { login: login.value.trim(), password: password.value, ...(cap ? cap.value() : {}) };
      const { data } = await busy(submit, request('POST', '/sessions', { body }));
      password.value = '';
      await signedIn({ token: data.token, expires_at: data.expires_at, login: login.value.trim() });
    } catch (e) {
      password.value = '';
      if (e instanceof ApiError && e.problem.type === '/problems/captcha-required') {
        if (cap) {
          cap.reload();
        } else {
          cap = captcha('signin');
          form.insertBefore(cap.el, buttons);
        }
        say(box, 'error', t('auth.captcha_required'));
      } else {
        say(box, 'error', e instanceof ApiError && e.status === 401 ? t('auth.bad_credentials') : problemText(e));
        cap?.reload();
      }
      password.focus();
    }
  });
  return form;
}

// forgotPassword asks for a set-password link by email (login + captcha).
export function forgotPassword() {
  return captchaRequest({
    id: 'forgot-password', path: '/password-requests', prefix: 'auth.password',
    field: 'login', label: 'field.login', attrs: { autocomplete: 'username' },
  });
}

// forgotLogin asks for the login by email (email + captcha).
export function forgotLogin() {
  return captchaRequest({
    id: 'forgot-login', path: '/login-reminders', prefix: 'auth.login',
    field: 'email', label: 'field.email', attrs: { type: 'email', autocomplete: 'email' },
  });
}

// captchaRequest is the form of both requests: one field and a captcha,
// answered by a generic confirmation whether or not the account exists.
function captchaRequest({ id, path, prefix, field: name, label, attrs }) {
  const value = input(id, name, { ...attrs, required: true });
  const cap = captcha(id);
  const box = alertBox(`${id}-error`);
  const submit = h('button', { type: 'submit', class: 'primary', id: `${id}-submit` }, t('action.validate'));
  const form = h('form', { id: `${id}-form`, class: 'card narrow', novalidate: true },
    h('h1', {}, t(`${prefix}_title`)), welcome(),
    h('p', {}, t(`${prefix}_intro`)), box,
    field(t(label), value, { required: true }), cap.el,
    h('div', { class: 'buttons' }, h('a', { href: '#/sign-in', class: 'button' }, t('action.back')), submit));
  onCaptchaPost(form, box, submit, cap, path, () => ({ [name]: value.value.trim() }),
    () => form.replaceWith(done(t(`${prefix}_sent_title`), t(`${prefix}_sent`))));
  return form;
}

function done(title, text) {
  return h('section', { class: 'card narrow', id: 'request-done' },
    h('h1', {}, title), h('p', { role: 'status' }, text),
    h('div', { class: 'buttons' }, h('a', { href: '#/sign-in', class: 'button primary' }, t('action.close'))));
}

// heldToken is the emailed link's token, kept once it left the address bar.
let heldToken = '';

// setPassword sets a password with the token of the emailed link.
export function setPassword(ctx) {
  const token = ctx.query.get('token') || heldToken;
  heldToken = token;
  if (!token) {
    return h('section', { class: 'card narrow' }, h('h1', {}, t('auth.set_title')), h('p', {}, t('auth.no_token')),
      h('a', { href: '#/forgot-password' }, t('auth.forgot_password')));
  }
  // Keep the token out of the address bar and history once read.
  if (ctx.query.has('token')) history.replaceState(null, '', `/${link(['set-password'])}`);
  const pw = input('set-password', 'new_password', { type: 'password', autocomplete: 'new-password', required: true });
  const confirm = input('set-password', 'confirm_password', { type: 'password', autocomplete: 'new-password', required: true });
  const box = alertBox('set-password-error');
  const submit = h('button', { type: 'submit', class: 'primary', id: 'set-password-submit' }, t('action.validate'));
  const form = h('form', { id: 'set-password-form', class: 'card narrow', novalidate: true },
    h('h1', {}, t('auth.set_title')), welcome(), box,
    passwordRules(pw),
    field(t('field.new_password'), pw, { required: true }),
    showPasswords('set-password-show', pw, confirm),
    field(t('field.confirm_password'), confirm, { required: true }),
    h('div', { class: 'buttons' }, submit));
  onNewPassword(form, box, pw, confirm, async () => {
    try {
      const { data } = await busy(submit, request('POST', '/password-resets', { body: { token, new_password: pw.value, confirm_password: confirm.value } }));
      form.replaceWith(h('section', { class: 'card narrow', id: 'password-set' },
        h('h1', {}, t('auth.set_done_title')),
        h('p', { role: 'status' }, t('auth.set_done', { strength: t(`password.${data && data.strength}`, {}, '') })),
        h('div', { class: 'buttons' }, h('a', { href: '#/sign-in', class: 'button primary' }, t('auth.sign_in')))));
    } catch (e) {
      if (e instanceof ApiError && e.status === 410) {
        // The link is spent for good: nothing typed here can succeed.
        for (const el of form.elements) el.disabled = true;
        pw.value = '';
        confirm.value = '';
        say(box, 'error', t('auth.link_gone'), ' ', h('a', { href: '#/forgot-password' }, t('auth.forgot_password')));
        return;
      }
      showErrors(form, box, e);
    }
  });
  return form;
}
