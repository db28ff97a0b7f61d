// The UI's icons: a small set of 24×24 line drawings written for it,
// built as inline SVG (no file, no font, nothing fetched). Each icon is
// decoration: the control that shows one carries its own text label.

const NS = 'http://www.w3.org/2000/svg';

// paths of each icon, drawn with a 2 px stroke in the current colour.
const paths = {
  view: ['M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12z', 'M12 9a3 3 0 1 0 0 6 3 3 0 1 0 0-6z'],
  edit: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
  remove: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13', 'M10 11v6', 'M14 11v6'],
  print: ['M7 9V3h10v6', 'M7 17H4v-8h16v8h-3', 'M7 13h10v8H7z'],
  history: ['M3 12a9 9 0 1 0 3-6.7', 'M3 4v4h4', 'M12 7v5l3 2'],
  download: ['M12 4v11', 'M7 10l5 5 5-5', 'M5 20h14'],
  user: ['M12 4a4 4 0 1 0 0 8 4 4 0 1 0 0-8z', 'M4 21c0-4 3.6-6 8-6s8 2 8 6'],
  key: ['M8 10a4 4 0 1 0 0 8 4 4 0 1 0 0-8z', 'M11 13l9-9', 'M17 7l3 3', 'M15 9l2 2'],
  empty: ['M3 13l3-8h12l3 8v6H3z', 'M3 13h5l1 2h6l1-2h5'],
  console: ['M3 5h18v12H3z', 'M8 21h8', 'M12 17v4', 'M7 9l3 2-3 2', 'M12 13h4'],
  services: ['M4 4h7v7H4z', 'M13 4h7v7h-7z', 'M4 13h7v7H4z', 'M13 13h7v7h-7z'],
  news: ['M4 5h13v14H6a2 2 0 0 1-2-2z', 'M17 9h3v8a2 2 0 0 1-2 2', 'M8 9h5', 'M8 13h5'],
  contact: ['M4 5h16v11H9l-5 4z', 'M8 9h8', 'M8 12h5'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
};

// icon returns the named icon as an <svg> element (aria-hidden).
export function icon(name, cls = '') {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name} ${cls}`.trim());
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of paths[name] || []) {
    const p = document.createElementNS(NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

// logo is the brand mark: an orange square with a white cloud.
export function logo() {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 32 32');
  svg.setAttribute('class', 'logo');
  svg.setAttribute('aria-hidden', 'true');
  const square = document.createElementNS(NS, 'rect');
  for (const [k, v] of Object.entries({ width: 32, height: 32, fill: '#ff7900' })) square.setAttribute(k, v);
  const cloud = document.createElementNS(NS, 'path');
  cloud.setAttribute('d', 'M9 23h14a4.5 4.5 0 0 0 .4-9 6.5 6.5 0 0 0-12.3-1.6A5.3 5.3 0 0 0 9 23z');
  cloud.setAttribute('fill', '#fff');
  svg.append(square, cloud);
  return svg;
}

// iconButton is a compact button (or link, given href) showing an icon,
// its label for screen readers and as a tooltip.
export function iconButton(name, label, props = {}, tag = 'button') {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = `icon-button ${v}`;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  if (!props.class) el.className = 'icon-button';
  if (tag === 'button' && !props.type) el.type = 'button';
  el.title = label;
  const text = document.createElement('span');
  text.className = 'visually-hidden';
  text.textContent = label;
  el.append(icon(name), text);
  return el;
}
