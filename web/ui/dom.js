// Building the DOM safely: every string given to h() becomes a text node or
// an attribute value, never markup. No module of the UI assigns innerHTML
// (the page's Content-Security-Policy requires Trusted Types, which would
// refuse it anyway).

const properties = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'required', 'open', 'multiple']);

// h(tag, props, ...children) builds an element. props: "class", "text",
// "dataset", "on<event>" handlers, boolean properties, other attributes.
// children: nodes, strings, numbers, arrays of them; null and false are
// skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (properties.has(k)) el[k] = v;
    else if (k === 'href' || k === 'src') el.setAttribute(k, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

// append adds children (see h) to el.
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// safeURL returns url if it is an absolute http(s) URL (links coming from
// data: document space, support tools, console redirect), else null.
export function safeURL(url) {
  if (typeof url !== 'string' || url === '') return null;
  try {
    const u = new URL(url, location.origin);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

// externalLink is a link to another application, opened in a new tab.
export function externalLink(url, label, props = {}) {
  const href = safeURL(url);
  if (!href) return null;
  return h('a', { ...props, href, target: '_blank', rel: 'noopener noreferrer' }, label);
}

// dl renders [label, value] pairs as a description list; pairs whose value
// is null or undefined are left out.
export function dl(pairs, props = {}) {
  const out = h('dl', { class: 'pairs', ...props });
  for (const [label, value, field] of pairs) {
    if (value == null) continue;
    out.append(h('dt', {}, label), h('dd', field ? { dataset: { field } } : {}, value));
  }
  return out;
}

// uuid returns a random UUID (Idempotency-Key of writes).
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// labelCells gives each body cell of the tables under root the text of its
// column's header as data-label, which the phone layout shows before the
// cell's value when a table collapses to cards. Cells spanning columns
// (details) get none.
export function labelCells(root) {
  const tables = root.matches && root.matches('table') ? [root] : root.querySelectorAll ? root.querySelectorAll('table') : [];
  for (const table of tables) {
    const heads = [...(table.tHead ? table.tHead.rows[0]?.cells || [] : [])].map((th) => th.textContent.replace(/[▲▼↕]/g, '').trim());
    for (const body of table.tBodies) {
      for (const tr of body.rows) {
        [...tr.cells].forEach((td, i) => {
          if (td.colSpan > 1 || !heads[i]) td.removeAttribute('data-label');
          else td.dataset.label = heads[i];
        });
      }
    }
  }
}

// watchTables keeps the cells of every table drawn under root labelled
// (labelCells), whenever a page or a list adds rows.
export function watchTables(root) {
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      labelCells(root);
    });
  }).observe(root, { childList: true, subtree: true });
}
