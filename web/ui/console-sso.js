// The single sign-on to the technical console, offered on the dashboard
// and on the home page's contract cards.

import { h, safeURL } from './dom.js';
import { request, enc, ApiError } from './api.js';
import { t } from './i18n.js';
import { say, busy, problemText } from './forms.js';

// openConsole starts the console's sign-in through the OpenID provider
// (third-party-initiated login; the provider session it opens spares the
// password); with no console registered there (409), the deprecated
// signed assertion.
async function openConsole(cid) {
  const base = `/contracts/${enc(cid)}/console`;
  try {
    return await request('POST', `${base}/sign-in`, { body: {}, cookies: true });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409) throw e;
    return request('POST', `${base}/sso`, { body: {} });
  }
}

// ssoButton is the "Access the technical console" button of contract cid:
// it opens the console's sign-in (openConsole) and follows its redirect;
// refusals are said in box.
export function ssoButton(cid, box, props = {}) {
  const go = h('button', { type: 'button', class: 'primary', ...props }, t('dashboard.console'));
  go.addEventListener('click', async () => {
    try {
      const { data } = await busy(go, openConsole(cid));
      const url = safeURL(data && data.redirect_url);
      if (!url) throw new Error('no redirect');
      location.assign(url);
    } catch (e) {
      say(box, 'error', problemText(e));
    }
  });
  return go;
}
