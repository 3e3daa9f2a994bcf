import { el } from './dom.js';

// Without a base only absolute URLs pass; sources resolve against the page and must be web pages.
export const safeUrl = (href, base, allowed = /^(https?|mailto):$/) => {
  try {
    const url = new URL(href, base);
    return allowed.test(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
};

// Inline markdown: `code`, **bold**, __bold__, *italic*, _italic_, [label](url), bare http(s) URLs.
const INLINE = new RegExp([
  '`([^`]+)`',
  '\\*\\*(.+?)\\*\\*|__(.+?)__',
  '(?<![\\w*])\\*(?!\\s)(.+?)(?<!\\s)\\*(?!\\w)|(?<!\\w)_(?!\\s)(.+?)(?<!\\s)_(?!\\w)',
  '\\[([^\\]]+)\\]\\(\\s*(\\S+?)\\s*\\)',
  '(https?://[^\\s<>"]*[^\\s<>".,;:!?)\\]\'])',
].join('|'), 'g');

function inline(text, parent, inLink) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    let node;
    if (m[1] != null) {
      node = el('code', {}, m[1]);
    } else if (m[2] || m[3] || m[4] || m[5]) {
      node = el(m[2] || m[3] ? 'strong' : 'em');
      inline(m[2] || m[3] || m[4] || m[5], node, inLink);
    } else {
      const href = inLink ? null : safeUrl(m[7] || m[8], location.href); // a site page may be relative
      node = href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }) : document.createDocumentFragment();
      if (m[6]) inline(m[6], node, true);
      else node.append(m[8]);
    }
    parent.append(node);
  }
  parent.append(text.slice(last));
}

const FENCE = /^\s*(```|~~~)/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s*> ?/;
const RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const indent = (line) => /^\s*/.exec(line)[0].length;
// Quotes and lists nest; past this depth their markers are shown as text.
const MAX_DEPTH = 8;

// Block markdown: paragraphs, fenced code, nested lists, blockquotes, tables, headings as bold lines.
export const markdown = (source) => blocks(source.replace(/\r\n?/g, '\n').replace(/^\t+/gm, (t) => '    '.repeat(t.length))
  .split('\n'), 0);

function blocks(lines, depth) {
  const out = document.createDocumentFragment();
  const nest = depth < MAX_DEPTH;
  let para = [];
  const flush = () => {
    if (!para.length) return;
    const p = el('p');
    para.forEach((line, i) => {
      if (i) p.append(el('br'));
      inline(line, p);
    });
    out.append(p);
    para = [];
  };
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    let m;
    if (fence) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
      i++;
      out.append(el('pre', {}, el('code', {}, code.join('\n'))));
    } else if (nest && ITEM.test(line)) {
      flush();
      i = list(lines, i, out, depth);
    } else if (nest && QUOTE.test(line)) {
      flush();
      const quoted = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i++) quoted.push(lines[i].replace(QUOTE, ''));
      out.append(el('blockquote', {}, blocks(quoted, depth + 1)));
    } else if (line.includes('|') && RULE.test(lines[i + 1] || '') && lines[i + 1].includes('|')) {
      flush();
      i = table(lines, i, out);
    } else if ((m = /^#{1,6}\s+(.*)$/.exec(line))) {
      flush();
      const strong = el('strong');
      inline(m[1], strong);
      out.append(el('p', {}, strong));
      i++;
    } else {
      if (line.trim()) para.push(line);
      else flush();
      i++;
    }
  }
  flush();
  return out;
}

// One list: items at the first item's indentation and of its kind. Lines indented deeper
// belong to the item above them and are rendered as blocks inside it (nested lists, code).
function list(lines, i, out, depth) {
  let m = ITEM.exec(lines[i]);
  const level = m[1].length;
  const ordered = /\d/.test(m[2]);
  const n = parseInt(m[2], 10);
  const node = el(ordered ? 'ol' : 'ul', { start: ordered && n !== 1 ? n : null });
  for (;;) {
    i++;
    const li = el('li');
    inline(m[3], li);
    const inner = [];
    for (let j = i; j < lines.length; j++) {
      if (!lines[j].trim()) continue;
      if (indent(lines[j]) <= level) break;
      inner.push(...lines.slice(i, j + 1));
      i = j + 1;
    }
    const cut = inner.reduce((min, l) => (l.trim() ? Math.min(min, indent(l)) : min), Infinity);
    if (inner.length) li.append(blocks(inner.map((l) => l.slice(cut)), depth + 1));
    node.append(li);
    // Blank lines between two items of the same list keep it one list.
    let j = i;
    while (j < lines.length && !lines[j].trim()) j++;
    m = ITEM.exec(lines[j] || '');
    if (!m || m[1].length !== level || /\d/.test(m[2]) !== ordered) break;
    i = j;
  }
  out.append(node);
  return i;
}

// Table cells: split on pipes that are not escaped, without the row's outer pipes.
const cells = (line) => line.trim().replace(/^\|/, '').replace(/(^|[^\\])\|$/, '$1').split(/(?<!\\)\|/)
  .map((cell) => cell.trim().replace(/\\\|/g, '|'));

// A GFM pipe table: header, alignment row, then rows up to a line without a pipe or a quote or list.
function table(lines, i, out) {
  const head = cells(lines[i]);
  const align = cells(lines[i + 1]).map((c) => (c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right')
    : c.startsWith(':') ? 'left' : null));
  const row = (values, tag) => el('tr', {}, ...head.map((_, k) => {
    const cell = el(tag, { align: align[k] });
    inline(values[k] || '', cell);
    return cell;
  }));
  const body = el('tbody');
  for (i += 2; /\|/.test(lines[i]) && !QUOTE.test(lines[i]) && !ITEM.test(lines[i]); i++) {
    body.append(row(cells(lines[i]), 'td'));
  }
  out.append(el('div', { class: 'table', tabindex: '0' }, el('table', {}, el('thead', {}, row(head, 'th')), body)));
  return i;
}
