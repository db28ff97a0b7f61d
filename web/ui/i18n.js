// The UI's two languages. Texts live in messages.json (both languages have
// the same keys, a test checks it). The language is the signed-in user's
// (GET /me), else the one last chosen in this browser, else the browser's.

const LANG_KEY = 'selfcare.lang';
const messages = await (await fetch('/ui/messages.json', { credentials: 'omit' })).json();

let current = 'en';

// lang is the display language: "fr" or "en".
export function lang() {
  return current;
}

// setLang switches the display language; remember keeps the choice for the
// next visits of this browser (a signed-in user's /me language is not
// remembered: it is read again at each sign-in).
export function setLang(l, { remember = true } = {}) {
  if (l !== 'fr' && l !== 'en') return;
  current = l;
  document.documentElement.lang = l;
  if (remember) localStorage.setItem(LANG_KEY, l);
}

// initLang picks the language before anyone signs in.
export function initLang() {
  const saved = localStorage.getItem(LANG_KEY);
  const browser = (navigator.languages || [navigator.language || 'en']).map((x) => String(x).slice(0, 2).toLowerCase());
  setLang(saved === 'fr' || saved === 'en' ? saved : browser.find((x) => x === 'fr' || x === 'en') || 'en', { remember: false });
}

// t returns the text of key in the display language, with {name}
// placeholders replaced by vars; a missing key gives fallback (or the key).
export function t(key, vars = {}, fallback) {
  let s = messages[current][key] ?? messages.en[key];
  if (s == null) s = fallback !== undefined ? fallback : key;
  return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
}
