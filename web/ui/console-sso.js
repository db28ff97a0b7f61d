// The single sign-on to the technical console, offered on the dashboard
// and on the home page's contract cards.

import { h } from './dom.js';
import { request, enc } from './api.js';
import { t } from './i18n.js';
import { say, busy, problemText } from './forms.js';
import { safeURL } from './dom.js';

// ssoButton is the "Access the technical console" button of contract cid:
// it asks the server for a signed assertion and follows its redirect;
// refusals are said in box.
export function ssoButton(cid, box, props = {}) {
  const go = h('button', { type: 'button', class: 'primary', ...props }, t('dashboard.console'));
  go.addEventListener('click', async () => {
    try {
      const { data } = await busy(go, request('POST', `/contracts/${enc(cid)}/console/sso`, { body: {} }));
      const url = safeURL(data && data.redirect_url);
      if (!url) throw new Error('no redirect');
      location.assign(url);
    } catch (e) {
      say(box, 'error', problemText(e));
    }
  });
  return go;
}
