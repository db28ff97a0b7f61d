// The client of selfcare's public JSON API (API.md), and the session it
// signs in with. The bearer token lives in sessionStorage: it is sent as
// "Authorization: Bearer", never as a cookie, so no other site can make
// the browser use it (no CSRF surface), and it ends with the tab.

import { uuid } from './dom.js';
import { lang } from './i18n.js';

const SESSION_KEY = 'selfcare.session';

// session is the signed-in user's token, its expiry and login.
export const session = {
  get() {
    let s;
    try {
      s = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    } catch {
      s = null;
    }
    if (!s || typeof s.token !== 'string') return null;
    if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) {
      sessionStorage.removeItem(SESSION_KEY);
      return null;
    }
    return s;
  },
  set(s) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

// Read-your-writes: a write's answer carries the position of its last
// event (X-Selfcare-Position); every later call sends the highest one seen
// back (X-Selfcare-Min-Position), and the server answers it once its read
// models show that write. Kept in sessionStorage so that a reload keeps it.
const POSITION_KEY = 'selfcare.position';

function notePosition(resp) {
  const p = resp.headers.get('X-Selfcare-Position');
  if (!p || !/^[0-9]+$/.test(p)) return;
  const cur = sessionStorage.getItem(POSITION_KEY);
  if (!cur || BigInt(p) > BigInt(cur)) sessionStorage.setItem(POSITION_KEY, p);
}

// ApiError is a refused or failed call: its HTTP status and the RFC 9457
// problem the server sent (title, detail, errors[] of {field, code, message}).
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

let sessionEnded = () => {};

// onSessionEnded sets what happens when the server says the session is no
// longer valid (401 on a signed-in call).
export function onSessionEnded(f) {
  sessionEnded = f;
}

// request calls the API. path is under /api/v1; query is an object of
// parameters (empty values left out). options: body (sent as JSON),
// ifMatch (an ETag), idempotencyKey (true for a fresh one, or a key to
// reuse on a retry), accept (another media type, whose body data is then
// a Blob), cookies (true: send and accept the OpenID provider's session
// cookie; the API itself only reads the bearer token). It returns
// {status, data, etag} or throws an ApiError.
export async function request(method, path, { query, body, ifMatch, idempotencyKey, accept, cookies } = {}) {
  // The server writes its texts (the catalog's) in the display language.
  const headers = { Accept: accept ? `${accept}, application/problem+json` : 'application/json', 'Accept-Language': lang() };
  const s = session.get();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = ifMatch;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey === true ? uuid() : idempotencyKey;
  const position = sessionStorage.getItem(POSITION_KEY);
  if (position) headers['X-Selfcare-Min-Position'] = position;
  let url = `/api/v1${path}`;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v != null && v !== '') q.set(k, v);
    if ([...q].length) url += `?${q}`;
  }
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: cookies ? 'same-origin' : 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (e) {
    throw new ApiError(0, { title: 'network', detail: String(e && e.message) });
  }
  notePosition(resp);
  let data = null;
  const type = resp.headers.get('Content-Type') || '';
  if (accept && resp.ok) {
    data = await resp.blob();
  } else if (resp.status !== 204 && /json/.test(type)) {
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    if (resp.status === 401 && s) {
      session.clear();
      sessionEnded();
    }
    throw new ApiError(resp.status, data);
  }
  return { status: resp.status, data, etag: resp.headers.get('ETag') };
}

// get returns the body of a GET.
export async function get(path, query) {
  return (await request('GET', path, { query })).data;
}

// enc encodes a path segment.
export const enc = encodeURIComponent;
