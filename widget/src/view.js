import { button, el, icon } from './dom.js';
import { markdown, safeUrl } from './markdown.js';
import { adopt } from './styles.js';

// The page a URL is on: a link to a section of a source is a link to that source.
const page = (href) => href.split('#')[0];

// The widget's DOM in a shadow root of its own: a launcher (floating mode), and a panel holding
// the header, the messages, the conversation list and the composer. The view draws; the widget
// (widget.js) decides, through the handlers in `on`.
export class View {
  constructor({ t, lang, dir, mode, target, title, theme, position, conversations, files, voice, handoff }, on) {
    const floating = mode === 'floating';
    this.t = t;
    this.floating = floating;
    this.host = el('div', { class: 'chatkit-host', 'data-chatkit': mode });
    (target || document.body).append(this.host);
    this.shadow = this.host.attachShadow({ mode: 'open' });
    adopt(this.shadow);

    const classes = ['ck', mode, position === 'bottom-left' ? 'left' : '', mode === 'fullpage' && !target ? 'fixed' : ''];
    this.root = el('div', {
      class: classes.join(' ').trim(), 'data-theme': ['dark', 'auto'].includes(theme) ? theme : 'light', dir, lang,
    });
    const panelId = 'ck-panel';
    this.launcher = floating ? el('button', {
      class: 'launcher', part: 'launcher', type: 'button', 'aria-label': t.open, 'aria-expanded': 'false',
      'aria-controls': panelId, click: on.toggle,
    }, icon('chat')) : null;

    this.messages = el('div', {
      class: 'messages', part: 'messages', role: 'log', 'aria-live': 'off', 'aria-label': t.conversation, tabindex: '0',
    });
    this.live = el('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
    this.input = el('textarea', {
      part: 'input', rows: '1', dir: 'auto', placeholder: t.placeholder, 'aria-label': t.message,
      keydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          on.submit();
        }
      },
      input: () => this.fitInput(),
    });
    this.sendBtn = button('send', t.send, null, 'send', { class: 'send' });
    this.sendBtn.type = 'submit';
    this.stopBtn = button('stop', t.stop, on.stop, 'stop', { class: 'send stop' });
    this.stopBtn.hidden = true;
    this.form = el('form', { class: 'composer', part: 'composer', submit: (e) => { e.preventDefault(); on.submit(); } },
      files.tray, files.button, this.input, ...[voice.mic, this.sendBtn, this.stopBtn].filter(Boolean));

    const header = el('div', { class: 'header', part: 'header' }, el('h2', { part: 'title' }, title),
      ...[voice.auto, button('new-chat', t.newChat, on.newChat, 'new')].filter(Boolean));
    this.list = el('div', { class: 'list', part: 'conversation-list', id: 'ck-list', hidden: true,
      keydown: (e) => e.key === 'Escape' && on.showList(false, e) });
    if (conversations) {
      header.append(this.listBtn = button('conversations', t.conversations, () => on.showList(this.list.hidden), 'list',
        { 'aria-expanded': 'false', 'aria-controls': 'ck-list' }));
    }
    if (floating) header.append(button('close', t.close, on.close, 'down'));
    this.panel = el('div', {
      class: 'panel', part: 'panel', id: panelId, role: floating ? 'dialog' : 'region',
      'aria-modal': floating ? 'true' : null, 'aria-label': title, hidden: floating,
      keydown: (e) => this.onKey(e, on.close),
    }, header, this.messages, this.list, handoff.bar, this.form, this.live);
    this.root.append(...[this.launcher, this.panel].filter(Boolean));
    this.shadow.append(this.root);
    this.followViewport();
  }

  // Keeps the full-screen chat above the on-screen keyboard on phones.
  followViewport() {
    const vv = window.visualViewport;
    if (!vv) return;
    this.fit = () => {
      this.panel.style.setProperty('--vh', vv.height + 'px');
      this.panel.style.setProperty('--vt', vv.offsetTop + 'px');
    };
    vv.addEventListener('resize', this.fit);
    vv.addEventListener('scroll', this.fit);
    this.fit();
  }

  show(open) {
    this.panel.hidden = !open;
    this.root.classList.toggle('open', open);
    this.launcher.setAttribute('aria-expanded', open);
    this.launcher.setAttribute('aria-label', this.t[open ? 'close' : 'open']);
    this.launcher.replaceChildren(icon(open ? 'close' : 'chat'));
  }

  onKey(e, close) {
    if (!this.floating) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'Tab') {
      // aria-modal dialog: keep Tab inside the panel.
      const items = [...this.panel.querySelectorAll('button,textarea,a[href],[tabindex="0"]')]
        .filter((node) => !node.disabled && node.getClientRects().length);
      const first = items[0];
      const last = items[items.length - 1];
      const active = this.shadow.activeElement;
      if (e.shiftKey ? active === first : active === last) {
        e.preventDefault();
        (e.shiftKey ? last : first).focus();
      }
    }
  }

  fitInput() {
    this.input.style.height = 'auto';
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 140) + 'px';
  }

  scroll() {
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  // Whether the visitor is at the bottom of the messages (not scrolled up to read).
  atBottom() {
    return this.messages.scrollHeight - this.messages.scrollTop - this.messages.clientHeight < 60;
  }

  // Swaps the messages and composer for the conversation list, or back.
  showList(show) {
    this.list.hidden = !show;
    this.messages.hidden = this.form.hidden = show;
    this.root.classList.toggle('listing', show);
    this.listBtn.setAttribute('aria-expanded', show);
  }

  // Adds a message bubble. Assistant text is Markdown, the visitor's and a person's are plain:
  // all as written. A person's message carries their name (`name`) for everyone to see.
  bubble(role, content, name) {
    const body = el('div', { class: 'body', dir: 'auto' });
    const who = name ? el('div', { class: 'who', dir: 'auto' }, name, el('span', { class: 'sr' }, ': '))
      : el('span', { class: 'sr' }, (role === 'user' ? this.t.you : this.t.assistant) + ': ');
    const node = el('div', { class: `msg ${role}`, part: `message ${role}` }, who, body);
    node.body = body;
    this.render(node, content);
    this.messages.append(node);
    return node;
  }

  // The API's text is plain, as written: it only ever becomes text nodes.
  render(node, content) {
    const text = String(content || '');
    if (!node.classList.contains('assistant')) node.body.textContent = text;
    else node.body.replaceChildren(markdown(text));
  }

  // What the API says about a finished message: a question's files; an answer cut short, what
  // its model could not use of the files, and the site's pages it drew on.
  finish(node, message) {
    const files = Array.isArray(message.attachments) ? message.attachments : [];
    if (message.role === 'user' && files.length) {
      node.append(el('ul', { class: 'files', part: 'files' }, ...files.map((f) => el('li', {}, String(f.name)))));
    }
    if (message.incomplete) this.note(node, 'interrupted');
    if (message.truncated) this.note(node, 'shortened');
    for (const used of ['none', 'part']) {
      if (files.some((f) => f.used === used)) this.note(node, used === 'none' ? 'unused' : 'partly');
    }
    const pages = new Set();
    const links = (Array.isArray(message.sources) ? message.sources : []).map((source) => {
      const { title: raw, url } = Object(source);
      const link = typeof url === 'string' && url;
      const title = (typeof raw === 'string' && raw) || link;
      const href = link && safeUrl(link, location.href, /^https?:$/);
      if (href) pages.add(page(href));
      return title && el('li', {}, href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, title) : title);
    }).filter(Boolean);
    if (!links.length) return;
    // A source is shown once, in the list: where the text links to it too, that link reads as text.
    for (const a of node.body.querySelectorAll('a')) {
      if (pages.has(page(a.getAttribute('href')))) a.replaceWith(...a.childNodes);
    }
    node.append(el('div', { class: 'sources', part: 'sources' }, el('div', {}, this.t.sources), el('ul', {}, ...links)));
  }

  note(node, key) {
    if (!node.querySelector('.' + key)) node.append(el('span', { class: 'note ' + key }, this.t[key]));
  }

  typing() {
    const typing = el('div', { class: 'msg assistant typing', part: 'typing', role: 'img' });
    this.waiting(typing);
    this.messages.append(typing);
    return typing;
  }

  // The typing indicator, or while the server queues the answer, the wait and its place in line.
  waiting(typing, position) {
    const text = position ? this.t[position > 1 ? 'queuedAt' : 'queued'].replace('{n}', position) : '';
    // Announced once, when the wait begins.
    if (text && !typing.classList.contains('queued')) this.live.textContent = text;
    typing.classList.toggle('queued', !!text);
    typing.setAttribute('aria-label', text || this.t.typing);
    typing.replaceChildren(...(text ? [text] : [el('i'), el('i'), el('i')]));
  }

  // While an answer streams, the send button is a stop button; focus follows the swap.
  setBusy(busy) {
    const hadFocus = this.shadow.activeElement;
    this.sendBtn.hidden = busy;
    this.stopBtn.hidden = !busy;
    if (hadFocus === (busy ? this.sendBtn : this.stopBtn)) (busy ? this.stopBtn : this.input).focus();
  }

  // A failed message: the reason and a retry button, disabled for `wait` seconds.
  failure(message, retry, wait) {
    const again = el('button', { type: 'button', part: 'retry', click: retry }, this.t.retry);
    if (wait) {
      again.disabled = true;
      setTimeout(() => { again.disabled = false; }, wait * 1000);
    }
    const box = el('div', { class: 'error', part: 'error', role: 'alert' }, el('span', {}, message), again);
    this.messages.append(box);
    this.scroll();
    return box;
  }

  destroy() {
    const vv = window.visualViewport;
    if (vv && this.fit) {
      vv.removeEventListener('resize', this.fit);
      vv.removeEventListener('scroll', this.fit);
    }
    this.host.remove();
  }
}
