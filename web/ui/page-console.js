// The API credentials of the user's console account on a contract (SPEC
// §5): the API password, and the access keys (AK/SK). Every change needs
// a 6-digit code emailed on request (a captcha guards the sending; a code
// is valid 60 s and a new one voids the previous). The secret of a new
// access key is shown once, in this page's DOM only: it is never stored,
// and a new render forgets it.

import { h, dl } from './dom.js';
import { request, get, enc, ApiError } from './api.js';
import { t } from './i18n.js';
import { listView } from './list.js';
import {
  field, input, alertBox, say, hush, showErrors, clearErrors, busy, captcha, passwordRules, showPasswords, onNewPassword, onCaptchaPost, problemText, confirmDialog,
} from './forms.js';
import * as fmt from './format.js';

const api = (ctx, ...rest) => `/contracts/${enc(ctx.cid)}/console/${rest.join('/')}`;

// MAX_KEYS is SPEC §5's limit of access keys per console account.
const MAX_KEYS = 2;

// credentials is the page: the console account, its API password and its
// access keys.
export async function credentials(ctx) {
  let me = ctx.me;
  if (!me || !me.email) {
    try {
      me = await get('/me');
    } catch {
      me = null; // the form's email field is then left for the user to type
    }
  }
  const email = (me && me.email) || '';
  const roles = (ctx.rights && ctx.rights.console) || [];
  // What decides whether a key can be created: the API password is set
  // (null: unknown, then the server will say), and the count of keys.
  const state = { password: null, keys: 0, changed: [] };
  try {
    state.password = await get(api(ctx, 'api-password'));
  } catch {
    state.password = null;
  }
  state.update = (patch) => {
    Object.assign(state, patch);
    for (const f of state.changed) f();
  };
  return h('div', { class: 'console-credentials' },
    h('h1', {}, t('console.title')),
    h('p', {}, t('console.intro')),
    h('section', { class: 'block', id: 'console-account' }, h('h2', {}, t('console.account')),
      dl([
        [t('console.company_account'), ctx.cid, 'company_account'],
        [t('field.login'), ctx.session.login, 'login'],
        [t('console.email'), email || '—', 'email'],
        [t('roles.console'), roles.join(', '), 'console'],
      ]),
      h('p', { class: 'hint' }, t('console.account_hint'))),
    apiPasswordBlock(ctx, email, state),
    accessKeysBlock(ctx, email, state));
}

// codeStep is step 1 of every change: the captcha, then a code emailed to
// the user. onSent() shows step 2.
function codeStep(ctx, prefix, email, onSent) {
  const cap = captcha(prefix);
  const box = alertBox(`${prefix}-code-error`);
  const send = h('button', { type: 'submit', class: 'primary', id: `${prefix}-send-code` }, t('console.send_code'));
  const form = h('form', { id: `${prefix}-code-form`, class: 'code-step', novalidate: true },
    h('h3', {}, t('console.step_code')),
    h('p', {}, email ? t('console.code_intro', { email }) : t('console.code_intro_no_email')), box,
    cap.el, h('div', { class: 'buttons' }, send));
  onCaptchaPost(form, box, send, cap, api(ctx, 'verification-codes'), () => ({}), onSent);
  return form;
}

// codeSent tells where the code went and how long it is valid, counting
// down; again() goes back to step 1 for a new code.
function codeSent(prefix, email, again) {
  // The sending is announced once; the countdown is not (a live region
  // would be read out every second).
  const left = h('span', { class: 'countdown' });
  const text = h('p', { id: `${prefix}-code-sent` },
    h('span', { role: 'status' }, t('console.code_sent', { email: email || t('console.your_email') })), ' ', left);
  const until = Date.now() + 60_000;
  const tick = () => {
    const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    left.replaceChildren(s > 0 ? t('console.code_left', { s }) : h('strong', {}, t('console.code_expired')));
    return s > 0;
  };
  tick();
  const timer = setInterval(() => {
    if (!text.isConnected || !tick()) clearInterval(timer);
  }, 1000);
  return h('div', { class: 'alert alert-info code-sent' }, text,
    h('p', {}, h('button', { type: 'button', class: 'link', id: `${prefix}-new-code`, onclick: again }, t('console.new_code'))));
}

// twoSteps runs a change: a start button, then step 1 (code) and step 2
// (the form of build(done)), done(node) ending with node shown. It returns
// {el, start}: the caller may relabel or disable the start button.
function twoSteps(ctx, { prefix, email, startLabel, build }) {
  const area = h('div', { class: 'steps-area' });
  const start = h('button', { type: 'button', class: 'primary', id: `${prefix}-start` }, startLabel);
  const result = h('div', { class: 'result' });
  const reset = () => area.replaceChildren(h('div', { class: 'buttons' }, start));
  const stepCode = () => {
    area.replaceChildren(codeStep(ctx, prefix, email, stepForm), cancelButton(prefix, reset));
  };
  const stepForm = () => {
    const form = build((node) => {
      result.replaceChildren(...[node].flat().filter(Boolean));
      reset();
    });
    area.replaceChildren(codeSent(prefix, email, stepCode), form, cancelButton(prefix, reset));
    const empty = [...form.querySelectorAll('input')].find((i) => i.type !== 'checkbox' && !i.value);
    if (empty) empty.focus();
  };
  start.addEventListener('click', () => {
    result.replaceChildren();
    stepCode();
  });
  reset();
  return { el: h('div', {}, result, area), start };
}

function cancelButton(prefix, reset) {
  return h('p', {}, h('button', { type: 'button', class: 'link', id: `${prefix}-cancel`, onclick: reset }, t('action.cancel')));
}

function codeInput(prefix) {
  return input(prefix, 'verification_code', {
    inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, pattern: '[0-9]{6}', required: true, spellcheck: 'false',
  });
}

// codeGone is the field error of an expired or used code (410).
const codeGone = { errors: [{ field: 'verification_code', code: 'code_gone' }] };

// apiPasswordBlock sets the API password: code, then {email, new_password,
// confirm_password, verification_code}.
function apiPasswordBlock(ctx, email, state) {
  const flow = twoSteps(ctx, {
    prefix: 'api-password', email, startLabel: t('console.set_password'),
    build: (done) => {
      const mail = input('api-password', 'email', { type: 'email', autocomplete: 'email', required: true, value: email });
      const pw = input('api-password', 'new_password', { type: 'password', autocomplete: 'new-password', required: true });
      const confirm = input('api-password', 'confirm_password', { type: 'password', autocomplete: 'new-password', required: true });
      const code = codeInput('api-password');
      const box = alertBox('api-password-error');
      const submit = h('button', { type: 'submit', class: 'primary', id: 'api-password-submit' }, t('console.save_password'));
      const form = h('form', { id: 'api-password-form', novalidate: true },
        h('h3', {}, t('console.step_password')), box,
        field(t('console.email'), mail, { required: true, hint: t('console.email_hint') }),
        passwordRules(pw, () => ctx.session.login),
        field(t('console.new_password'), pw, { required: true, hint: t('console.password_hint') }),
        showPasswords('api-password-show', pw, confirm),
        field(t('field.confirm_password'), confirm, { required: true }),
        field(t('console.code'), code, { required: true, hint: t('console.code_hint') }),
        h('div', { class: 'buttons' }, submit));
      onNewPassword(form, box, pw, confirm, async () => {
        try {
          await busy(submit, request('PUT', api(ctx, 'api-password'), {
            body: { email: mail.value.trim(), new_password: pw.value, confirm_password: confirm.value, verification_code: code.value.trim() },
          }));
          pw.value = '';
          confirm.value = '';
          state.update({ password: { set: true, set_at: new Date().toISOString() } });
          done(h('div', { class: 'alert alert-ok', id: 'api-password-done', role: 'status' },
            h('p', {}, t('console.password_set', { contract: ctx.cid, email: mail.value.trim() }))));
        } catch (e) {
          showErrors(form, box, e instanceof ApiError && e.status === 410 ? codeGone : e);
        }
      });
      return form;
    },
  });
  const shown = h('p', { id: 'api-password-state' });
  const show = () => {
    const p = state.password;
    shown.className = `credential-state ${p && p.set ? 'is-set' : p ? 'not-set' : ''}`;
    shown.replaceChildren(!p ? '' : p.set
      ? t('console.password_is_set', { at: p.set_at ? fmt.dateTime(p.set_at) : '' })
      : t('console.password_not_set'));
    flow.start.textContent = p && p.set ? t('console.change_password') : t('console.set_password');
  };
  state.changed.push(show);
  show();
  return h('section', { class: 'block', id: 'api-password' }, h('h2', {}, t('console.api_password')),
    h('p', {}, t('console.api_password_intro')), shown, flow.el);
}

// accessKeysBlock lists the access keys, creates one (API password and a
// fresh code) showing its secret once, and deletes one.
function accessKeysBlock(ctx, email, state) {
  const box = alertBox('access-keys-message');
  const count = h('p', { class: 'hint', id: 'access-keys-count' });
  const list = listView({
    id: 'access-keys-list',
    plain: true,
    key: (k) => k.access_key_id,
    load: async () => {
      const res = await get(api(ctx, 'access-keys'));
      const keys = Array.isArray(res) ? res : (res && res.items) || [];
      count.textContent = t(keys.length >= MAX_KEYS ? 'console.keys_full' : 'console.keys_count', { n: keys.length, max: MAX_KEYS });
      state.update({ keys: keys.length });
      return keys;
    },
    columns: [
      { key: 'access_key_id', label: t('console.key_id'), sort: false, value: (k) => h('code', {}, k.access_key_id) },
      { key: 'created_at', label: t('console.key_created'), sort: false, value: (k) => fmt.dateTime(k.created_at) },
      { key: 'status', label: t('console.key_status'), sort: false, value: (k) => t(`console.key_status.${k.status}`, {}, k.status) },
    ],
    actions: (k) => h('button', { type: 'button', class: 'small danger delete-key', onclick: () => remove(k) }, t('console.delete_key')),
    empty: t('console.no_keys'),
  });

  async function remove(k) {
    hush(box);
    const ok = await confirmDialog(t('console.delete_confirm', { id: k.access_key_id }), t('console.delete_key'));
    if (!ok) return;
    try {
      await request('DELETE', api(ctx, 'access-keys', enc(k.access_key_id)));
      say(box, 'ok', t('console.key_deleted', { id: k.access_key_id }));
    } catch (e) {
      say(box, 'error', e instanceof ApiError && e.status === 404 ? t('console.key_gone', { id: k.access_key_id }) : problemText(e));
    }
    list.reload();
  }

  const flow = twoSteps(ctx, {
    prefix: 'access-key', email, startLabel: t('console.create_key'),
    build: (done) => {
      const password = input('access-key', 'api_password', { type: 'password', autocomplete: 'off', required: true });
      const code = codeInput('access-key');
      const formBox = alertBox('access-key-error');
      const submit = h('button', { type: 'submit', class: 'primary', id: 'access-key-submit' }, t('console.create_key'));
      const form = h('form', { id: 'access-key-form', novalidate: true },
        h('h3', {}, t('console.step_key')), formBox,
        field(t('console.api_password'), password, { required: true }),
        field(t('console.code'), code, { required: true, hint: t('console.code_hint') }),
        h('div', { class: 'buttons' }, submit));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        clearErrors(form);
        hush(formBox);
        hush(box);
        let data;
        try {
          ({ data } = await busy(submit, request('POST', api(ctx, 'access-keys'), {
            body: { api_password: password.value, verification_code: code.value.trim() },
          })));
        } catch (e) {
          password.value = '';
          await refused(form, formBox, e);
          return;
        }
        password.value = '';
        done(secretBox(data));
        list.reload();
      });
      return form;
    },
  });

  // refused explains a refused creation. Both "at most 2 keys" and "no API
  // password yet" are 409s, told apart by their field code.
  async function refused(form, formBox, e) {
    if (!(e instanceof ApiError)) {
      showErrors(form, formBox, e);
      return;
    }
    if (e.status === 409) {
      await list.reload();
      const limit = e.errors.some((f) => f.field === 'access_keys' && f.code === 'limit_reached');
      say(formBox, 'error', limit ? t('console.key_limit', { max: MAX_KEYS }) : t('console.password_first'));
      return;
    }
    if (e.status === 403) {
      showErrors(form, formBox, { errors: [{ field: 'api_password', code: 'wrong_api_password' }] });
      return;
    }
    showErrors(form, formBox, e.status === 410 ? codeGone : e);
  }

  // The start button is offered only when a key can be made, and says why
  // not otherwise: before the captcha, the code and the API password.
  const why = h('p', { class: 'hint why-not', id: 'access-key-why' });
  flow.start.setAttribute('aria-describedby', why.id);
  const gate = () => {
    const p = state.password;
    const reason = p && !p.set ? t('console.password_first') : state.keys >= MAX_KEYS ? t('console.key_limit', { max: MAX_KEYS }) : '';
    flow.start.disabled = !!reason;
    why.textContent = reason;
    why.hidden = !reason;
  };
  state.changed.push(gate);
  gate();
  return h('section', { class: 'block', id: 'access-keys' }, h('h2', {}, t('console.access_keys')),
    h('p', {}, t('console.access_keys_intro', { max: MAX_KEYS })), box, count, list.el, why, flow.el);
}

// secretBox shows a new key and its secret, once, with a copy button. The
// secret lives in this node only.
function secretBox(k) {
  const secret = h('code', { id: 'new-access-key-secret', class: 'secret' }, k.secret_access_key);
  const status = h('span', { class: 'hint', id: 'copy-status', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button', id: 'copy-secret' }, t('console.copy_secret'));
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(secret.textContent);
      status.textContent = t('console.copied');
    } catch {
      // No clipboard here (permission, insecure origin): select the text
      // for the user to copy.
      getSelection().selectAllChildren(secret);
      status.textContent = t('console.copy_by_hand');
    }
  });
  const boxEl = h('section', { class: 'secret-box', id: 'new-access-key', role: 'alert', 'aria-labelledby': 'new-access-key-title' },
    h('h3', { id: 'new-access-key-title' }, t('console.new_key')),
    h('p', { class: 'warning' }, t('console.secret_once')),
    dl([
      [t('console.key_id'), h('code', { id: 'new-access-key-id' }, k.access_key_id), 'access_key_id'],
      [t('console.secret_key'), secret, 'secret_access_key'],
      [t('console.key_created'), fmt.dateTime(k.created_at), 'created_at'],
    ]),
    h('div', { class: 'buttons' }, copy, status,
      h('button', { type: 'button', class: 'primary', id: 'new-access-key-done', onclick: () => boxEl.remove() }, t('console.secret_saved'))));
  return boxEl;
}
