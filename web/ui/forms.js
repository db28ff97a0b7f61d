// Form parts shared by the pages: labelled fields, error display from API
// problems, password rules, captcha.

import { h, replace } from './dom.js';
import { request, ApiError } from './api.js';
import { t } from './i18n.js';

// field wraps a control with its label (and a hint). The control needs an id.
export function field(label, control, { hint, required } = {}) {
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control,
    hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null);
}

// input builds an <input> named name, with id prefix-name.
export function input(prefix, name, props = {}) {
  return h('input', { id: `${prefix}-${name}`, name, type: 'text', ...props });
}

// radios builds a group of radio buttons in a fieldset.
export function radios(prefix, name, legend, options, checked, { required } = {}) {
  return h('fieldset', { class: 'radios', id: `${prefix}-${name}` },
    h('legend', {}, legend, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    options.map(([value, label]) => h('label', {},
      h('input', { type: 'radio', name, value, checked: value === checked, required }), ' ', label)));
}

// select builds a <select> of [value, label] options.
export function select(prefix, name, options, selected, props = {}) {
  return h('select', { id: `${prefix}-${name}`, name, ...props },
    options.map(([value, label]) => h('option', { value, selected: value === selected }, label)));
}

// alertBox is the place of a form's general message.
export function alertBox(id) {
  return h('div', { class: 'alert', id, role: 'alert', hidden: true });
}

// say shows a message in an alert box (kind: "error", "ok" or "info").
export function say(box, kind, ...content) {
  box.className = `alert alert-${kind}`;
  replace(box, ...content);
  box.hidden = false;
}

// hush hides an alert box.
export function hush(box) {
  box.hidden = true;
  box.replaceChildren();
}

// problemText explains a failed call in the UI's language.
export function problemText(err) {
  if (!(err instanceof ApiError)) return t('error.unexpected');
  const s = err.status;
  if (s === 0) return t('error.network');
  if (s >= 500) return t('error.server', { detail: err.problem.detail || '' });
  const generic = t(`error.status.${s}`, {}, '');
  if (s === 409 || s === 400) return generic + (err.problem.detail && !err.errors.length ? ` (${err.problem.detail})` : '');
  return generic || err.message;
}

// fieldMessage explains one field error ({field, code, message}): the
// text for that code on that field (error.code.<field>.<code>) when one
// says more, else the text for the code.
export function fieldMessage(e) {
  return t(`error.code.${e.field}.${e.code}`, {}, '') || t(`error.code.${e.code}`, {}, e.message || e.code);
}

// showErrors clears a form's previous errors, then shows err: each field
// error next to its control (found by name), the rest in the alert box.
export function showErrors(form, box, err) {
  clearErrors(form);
  const loose = [];
  for (const e of (err && err.errors) || []) {
    const control = controlFor(form, e.field);
    if (!control) {
      loose.push(e);
      continue;
    }
    control.setAttribute('aria-invalid', 'true');
    const holder = control.closest('.field, fieldset') || control;
    holder.append(h('p', { class: 'field-error' }, fieldMessage(e)));
  }
  const items = loose.map((e) => h('li', {}, `${e.field}: ${fieldMessage(e)}`));
  say(box, 'error', h('p', {}, err && err.errors && err.errors.length ? t('form.fix_errors') : problemText(err)),
    items.length ? h('ul', {}, items) : null);
  const first = form.querySelector('[aria-invalid="true"]');
  if (first && first.focus) first.focus();
  return first;
}

function controlFor(form, name) {
  if (!name) return null;
  const direct = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (direct) return direct;
  const base = name.replace(/\[\d+\]$/, '').replace(/^parameters\./, 'parameters.');
  return form.querySelector(`[data-field="${CSS.escape(base)}"]`);
}

// clearErrors removes the field errors of a form.
export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((p) => p.remove());
  form.querySelectorAll('[aria-invalid]').forEach((c) => c.removeAttribute('aria-invalid'));
}

// busy disables a button while promise runs; it returns the promise.
export async function busy(button, promise) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await promise;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

const SPECIALS = '#!.@_-/';

// passwordRules lists SPEC §4's password policy and ticks each rule as the
// user types in control (login() gives the login it must differ from).
// The server decides; this only helps.
export function passwordRules(control, login = () => '') {
  const rules = [
    ['length', (p) => p.length >= 8],
    ['lower', (p) => /[a-z]/.test(p)],
    ['upper', (p) => /[A-Z]/.test(p)],
    ['digit', (p) => /[0-9]/.test(p)],
    ['special', (p) => [...p].some((c) => SPECIALS.includes(c))],
    // Unknown login (a set-password link): the server checks it, the
    // rule is neither ticked nor failed here.
    ['login', (p) => (login() ? p !== '' && p.toLowerCase() !== login().toLowerCase() : null)],
  ];
  const items = rules.map(([k]) => h('li', { dataset: { rule: k } }, t(`password.rule.${k}`),
    k === 'login' && !login() ? h('span', { class: 'hint' }, ' ', t('password.rule.login_later')) : null));
  const strength = h('p', { class: 'strength', 'aria-live': 'polite' });
  const update = () => {
    const p = control.value;
    let all = true;
    rules.forEach(([, ok], i) => {
      const pass = ok(p);
      all = all && pass !== false;
      items[i].className = pass ? 'ok' : pass === null ? 'unchecked' : '';
    });
    strength.textContent = p === '' ? '' : !all ? t('password.weak') : p.length >= 10 ? t('password.strong') : t('password.medium');
  };
  control.addEventListener('input', update);
  return h('div', { class: 'password-rules', id: `${control.id}-rules` },
    h('p', {}, t('password.intro')), h('ul', {}, items), strength);
}

// onNewPassword makes form, on submit, clear its errors and run send
// once the new password pw and its confirmation match; else it shows the
// mismatch next to the confirmation.
export function onNewPassword(form, box, pw, confirm, send) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hush(box);
    if (pw.value !== confirm.value) {
      showErrors(form, box, { errors: [{ field: 'confirm_password', code: 'mismatch' }] });
      return;
    }
    await send();
  });
}

// onCaptchaPost makes form, on submit, clear its errors and POST to path
// its fields() with the answer to captcha cap, submit busy meanwhile, then
// run sent(); on a failure it shows the errors and a new captcha.
export function onCaptchaPost(form, box, submit, cap, path, fields, sent) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hush(box);
    try {
      await busy(submit, request('POST', path, { body: { ...fields(), ...cap.value() } }));
      sent();
    } catch (e) {
      showErrors(form, box, e);
      cap.reload();
    }
  });
}

// showPasswords is the "show passwords in clear" checkbox for controls.
export function showPasswords(id, ...controls) {
  const box = h('input', { type: 'checkbox', id, onchange: () => controls.forEach((c) => { c.type = box.checked ? 'text' : 'password'; }) });
  return h('div', { class: 'field check' }, box, h('label', { for: id }, ' ', t('password.show')));
}

// captcha is a captcha image with its answer field and a reload link; its
// value() is {captcha_id, captcha_answer}.
export function captcha(prefix) {
  const img = h('img', { id: `${prefix}-captcha-image`, alt: t('captcha.alt'), width: 240, height: 80 });
  const answer = input(prefix, 'captcha_answer', { autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  let id = '';
  const reload = async () => {
    answer.value = '';
    status.textContent = '';
    try {
      const { data } = await request('POST', '/captchas');
      id = data.captcha_id;
      img.src = data.image_url;
    } catch (e) {
      status.textContent = problemText(e);
    }
  };
  const again = h('button', { type: 'button', class: 'link', onclick: reload }, t('captcha.reload'));
  const el = h('div', { class: 'captcha' }, img, again, status,
    field(t('captcha.answer'), answer, { required: true }));
  reload();
  return { el, reload, value: () => ({ captcha_id: id, captcha_answer: answer.value.trim() }) };
}

// confirmDialog asks a question in a modal dialog; it resolves to true
// when the user confirms.
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger', id: 'confirm-yes' }, confirmLabel);
    const no = h('button', { type: 'button', id: 'confirm-no' }, t('action.cancel'));
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-question' },
      h('p', { id: 'confirm-question' }, question), h('div', { class: 'buttons' }, no, yes));
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => close(true));
    no.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}


// infoDialog shows nodes in a modal dialog with a Close button; Escape
// closes it too.
export function infoDialog(id, title, ...body) {
  const close = h('button', { type: 'button', class: 'primary', id: `${id}-close` }, t('action.close'));
  const dialog = h('dialog', { class: 'confirm info', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title), body, h('div', { class: 'buttons' }, close));
  const done = () => {
    dialog.close();
    dialog.remove();
  };
  close.addEventListener('click', done);
  dialog.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    done();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return dialog;
}
