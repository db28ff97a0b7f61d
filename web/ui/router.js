// Hash routing: the server serves one page at "/", and every screen is a
// fragment such as #/contracts/OCB0000124/users?q=dupont. The fragment is
// never sent to the server, nor to anyone by a Referer.

// parse splits a location hash into its path and query.
export function parse(hash) {
  const raw = (hash || '').replace(/^#/, '') || '/';
  const i = raw.indexOf('?');
  const path = (i < 0 ? raw : raw.slice(0, i)) || '/';
  const query = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  return { path: path.startsWith('/') ? path : `/${path}`, query };
}

// match finds the first route whose pattern ("/contracts/:cid/users")
// matches path, and returns it with the decoded parameters.
export function match(routes, path) {
  const parts = path.split('/').filter(Boolean);
  for (const r of routes) {
    const pat = r.path.split('/').filter(Boolean);
    if (pat.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < pat.length && ok; i++) {
      if (pat[i].startsWith(':')) {
        try {
          params[pat[i].slice(1)] = decodeURIComponent(parts[i]);
        } catch {
          ok = false;
        }
      } else ok = pat[i] === parts[i];
    }
    if (ok) return { route: r, params };
  }
  return null;
}

// link builds a fragment from path segments (each encoded) and a query.
export function link(segments, query) {
  const path = '#/' + segments.map((s) => encodeURIComponent(s)).join('/');
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v != null && v !== '') q.set(k, v);
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

// go navigates to a fragment (a render follows through hashchange).
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
