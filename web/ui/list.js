// listView: a searchable, sortable, paginated table over an API list
// (?q= &sort= &limit= &cursor=, answering {items, next_cursor}).

import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { problemText } from './forms.js';

// listView options:
//   id:       the element id (tests and anchors find lists by it)
//   load:     async (query) => {items, next_cursor} (or an array)
//   columns:  [{key, label, sort (the API's sort field; false: not sortable),
//              value: (item) => node or text}]
//   detail:   (item) => node shown when a row is expanded (optional)
//   actions:  (item, list) => nodes of the last cell (optional)
//   filters:  [{name, label, options: [[value, label]]}] (optional)
//   initial:  {q, sort, ...filters} to start with
//   key:      (item) => the item's key, set as the row's data-key (optional)
//   empty:    text when there is nothing
//   pageSize: items per page (default 20)
//   plain:    true for a short list the API neither searches nor pages
//             (no search box, no pager)
// It returns {el, reload}.
export function listView(o) {
  const pageSize = o.pageSize || 20;
  const state = { q: '', sort: '', ...(o.initial || {}) };
  let cursors = [null]; // cursor of each page seen; its index is the page
  let page = 0;
  let seq = 0;

  const search = h('input', { type: 'search', name: 'q', id: `${o.id}-q`, value: state.q, autocomplete: 'off' });
  const filterControls = (o.filters || []).map((f) => {
    const s = h('select', { name: f.name, id: `${o.id}-${f.name}` },
      f.options.map(([v, label]) => h('option', { value: v, selected: (state[f.name] || '') === v }, label)));
    s.addEventListener('change', () => {
      state[f.name] = s.value;
      restart();
    });
    return h('label', { class: 'filter' }, f.label, ' ', s);
  });
  let debounce;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.q = search.value.trim();
      restart();
    }, 250);
  });
  const toolbar = h('form', { class: 'toolbar', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    clearTimeout(debounce);
    state.q = search.value.trim();
    restart();
  } }, h('label', { for: search.id }, o.searchLabel || t('list.search')), ' ', search, filterControls);

  const head = h('tr');
  const body = h('tbody');
  const status = h('p', { class: 'list-status', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'prev', onclick: () => show(page - 1) }, t('list.previous'));
  const next = h('button', { type: 'button', class: 'next', onclick: () => show(page + 1) }, t('list.next'));
  const pageNo = h('span', { class: 'page-no' });
  const columns = o.columns.length + (o.detail || o.actions ? 1 : 0);

  function drawHead() {
    replace(head, o.columns.map((c) => {
      const field = c.sort === false ? null : c.sort || c.key;
      if (!field) return h('th', { scope: 'col' }, c.label);
      const dir = state.sort === field ? 'ascending' : state.sort === `-${field}` ? 'descending' : null;
      return h('th', { scope: 'col', 'aria-sort': dir || 'none' },
        h('button', { type: 'button', class: 'sort', dataset: { sort: field }, onclick: () => {
          state.sort = state.sort === field ? `-${field}` : field;
          restart();
        } }, c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ' ↕')));
    }), o.detail || o.actions ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('list.actions'))) : null);
  }

  function restart() {
    cursors = [null];
    show(0);
  }

  async function show(p) {
    if (p < 0 || p >= cursors.length) return;
    const mine = ++seq;
    drawHead();
    status.textContent = t('list.loading');
    const query = { limit: pageSize, cursor: cursors[p] || undefined };
    for (const [k, v] of Object.entries(state)) if (v) query[k] = v;
    let res;
    try {
      res = await o.load(query);
    } catch (e) {
      if (mine !== seq) return;
      body.replaceChildren();
      status.textContent = problemText(e);
      status.className = 'list-status error';
      return;
    }
    if (mine !== seq) return;
    const items = Array.isArray(res) ? res : (res && res.items) || [];
    const nextCursor = Array.isArray(res) ? null : res && res.next_cursor;
    page = p;
    cursors = cursors.slice(0, p + 1);
    if (nextCursor) cursors.push(nextCursor);
    replace(body, items.map(row));
    status.textContent = items.length ? '' : o.empty || t('list.empty');
    status.className = items.length ? 'list-status' : 'list-status empty-state';
    prev.disabled = page === 0;
    next.disabled = !nextCursor;
    pageNo.textContent = t('list.page', { n: page + 1 });
  }

  function row(item) {
    const tr = h('tr', o.key ? { dataset: { key: o.key(item) } } : {}, o.columns.map((c) => h('td', { dataset: { col: c.key } }, c.value ? c.value(item) : item[c.key] ?? '')));
    if (!o.detail && !o.actions) return tr;
    const cell = h('td', { class: 'actions' });
    tr.append(cell);
    if (o.actions) cell.append(...[o.actions(item, api)].flat().filter(Boolean));
    if (!o.detail) return tr;
    const toggle = h('button', { type: 'button', class: 'expand', 'aria-expanded': 'false', title: t('list.details') },
      h('span', { 'aria-hidden': 'true' }, '▾'), h('span', { class: 'visually-hidden' }, t('list.details')));
    let detailRow = null;
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') === 'true';
      toggle.setAttribute('aria-expanded', String(!open));
      if (open) {
        detailRow.remove();
        detailRow = null;
        return;
      }
      detailRow = h('tr', { class: 'detail' }, h('td', { colspan: columns }, o.detail(item)));
      tr.after(detailRow);
    });
    cell.prepend(toggle);
    return tr;
  }

  const api = { reload: () => show(page), restart };
  const el = h('div', { class: 'list', id: o.id },
    o.plain ? null : toolbar,
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, head), body)),
    status,
    o.plain ? null : h('nav', { class: 'pager', 'aria-label': t('list.pages') }, prev, pageNo, next));
  show(0);
  return { el, ...api };
}
