// What the shell (app.js) and the pages share: the signed-in user's
// profile, the message left for the next screen, and a way to draw the
// screen again. The pages import this module, never app.js, so that the
// modules' import graph has no cycle (a test checks it).

import { get, session } from './api.js';
import { setLang } from './i18n.js';
import { go } from './router.js';

const NEXT_KEY = 'selfcare.next';
let flash = null; // {kind, text}: a message for the next screen
let me = null; // GET /me of the signed-in user, when the API has it
let meAsked = false; // GET /me was tried for this session
let renderer = () => {};

// notify leaves a message for the next screen.
export function notify(kind, text) {
  flash = { kind, text };
}

// takeFlash returns the message left for this screen, once.
export function takeFlash() {
  const f = flash;
  flash = null;
  return f;
}

// loadMe reads the user's profile and language (GET /me).
export async function loadMe() {
  meAsked = true;
  try {
    me = await get('/me');
    if (me && (me.language === 'fr' || me.language === 'en')) setLang(me.language, { remember: false });
  } catch (e) {
    me = null; // not fatal: the login is known from the session
  }
  return me;
}

// meKnown tells whether GET /me was tried for this session.
export const meKnown = () => meAsked;

// forgetMe drops the profile (the session ended).
export function forgetMe() {
  me = null;
  meAsked = false;
}

// currentMe is the profile read at sign-in (null if unknown).
export function currentMe() {
  return me;
}

// setMe replaces the profile after an edit.
export function setMe(profile) {
  me = profile;
}

// rememberNext keeps where a signed-out visitor was headed.
export function rememberNext(hash) {
  sessionStorage.setItem(NEXT_KEY, hash);
}

// signedIn records a new session, adopts the user's language and goes
// where the user was headed.
export async function signedIn(s) {
  session.set(s);
  forgetMe();
  await loadMe();
  const next = sessionStorage.getItem(NEXT_KEY);
  sessionStorage.removeItem(NEXT_KEY);
  go(next && next.startsWith('#/') && !next.startsWith('#/sign-in') ? next : '#/');
}

// setRenderer is called once by the shell with its render function.
export function setRenderer(fn) {
  renderer = fn;
}

// rerender draws the current screen again (after a change it shows).
export const rerender = () => renderer();
