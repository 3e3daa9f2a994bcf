import { ApiError, Client, codeOf, readEvents } from './api.js';
import { Attachments, uploaded } from './attach.js';
import { el } from './dom.js';
import { Emitter } from './events.js';
import { feedback } from './feedback.js';
import { Handoff } from './handoff.js';
import { explain, language } from './i18n.js';
import { ConversationList } from './list.js';
import { Conversations } from './state.js';
import { View } from './view.js';
import { Voice } from './voice.js';

// Every widget on the page, in the order they started.
export const instances = [];

// One chat: its conversation with the server (client, state), what the visitor sees (view),
// and the events its page listens to.
export class Widget {
  constructor(options = {}) {
    this.o = options;
    this.endpoint = String(options.endpoint || '').replace(/\/+$/, '');
    this.target = typeof options.target === 'string' ? document.querySelector(options.target) : options.target;
    if (options.target && !this.target) console.warn('ChatKit: no element matches target', options.target);
    this.mode = options.mode === 'fullpage' ? 'fullpage' : this.target ? 'inline' : 'floating';
    this.state = new Conversations(options, this.endpoint);
    this.client = new Client(this.endpoint, options.siteKey);
    const { lang, dir, locale, t } = language(options);
    Object.assign(this, { lang, locale, t });
    this.events = new Emitter();
    this.isOpen = this.mode !== 'floating';
    this.files = new Attachments(this);
    this.voice = new Voice(this);
    this.handoff = new Handoff(this);
    this.view = new View({
      t, lang, dir, mode: this.mode, target: this.target, title: options.title || t.title, theme: options.theme,
      position: options.position, conversations: this.state.enabled, files: this.files, voice: this.voice,
      handoff: this.handoff,
    }, {
      toggle: () => this.toggle(),
      close: () => this.close(),
      submit: () => this.submit(),
      stop: () => this.stop(),
      newChat: () => this.clear(this.state.enabled),
      showList: (show, e) => this.list.show(show, e),
    });
    this.list = new ConversationList(this);
    instances.push(this);
    this.restoring = this.restore();
    if (this.isOpen) this.files.start();
  }

  on(event, fn) {
    this.events.on(event, fn);
    return this;
  }

  off(event, fn) {
    this.events.off(event, fn);
    return this;
  }

  open() {
    const { view } = this;
    if (this.mode === 'floating' && !this.isOpen) {
      const active = document.activeElement;
      this.returnTo = active === view.host || active === document.body ? null : active;
      this.isOpen = true;
      // Whether the server takes files is asked once, when the chat is first opened.
      if (!this.files.info) this.files.start();
      view.show(true);
      this.events.emit('open');
    }
    view.input.focus();
    view.scroll();
  }

  close() {
    const { view } = this;
    if (this.mode !== 'floating' || !this.isOpen) return;
    this.list.show(false);
    this.isOpen = false;
    view.show(false);
    const back = this.returnTo && this.returnTo.isConnected ? this.returnTo : view.launcher;
    back.focus();
    if (view.shadow.activeElement !== back && document.activeElement !== back) view.launcher.focus();
    this.events.emit('close');
  }

  toggle() {
    if (this.isOpen && this.mode === 'floating') this.close();
    else this.open();
  }

  welcome() {
    const text = this.o.welcomeMessage ?? this.t.welcome;
    this.view.messages.replaceChildren();
    if (text) this.bubble('assistant', text);
  }

  async restore() {
    this.welcome();
    const { handoff } = this;
    handoff.reset();
    const { sid } = this.state;
    if (sid) {
      try {
        // The handoff first: a person's messages are named after whoever holds the conversation.
        const [{ messages }] = await Promise.all([this.client.history(sid), handoff.check(sid)]);
        for (const m of messages) {
          if (m.role === 'operator') handoff.show(m);
          else this.bubble(m.role, m.content, m);
        }
        this.state.track(sid, messages.find((m) => m.role === 'user')?.content);
        this.view.scroll();
      } catch (err) {
        // Offline: the next message shows the error.
        if (err.code === 'session_not_found') this.state.lost(sid);
      }
    }
    await null;
    this.events.markReady();
  }

  bubble(role, content, message) {
    const node = this.view.bubble(role, content);
    if (message) this.finish(node, message);
    return node;
  }

  // Notes and sources of a finished answer, then its read-aloud button and thumbs (answers the
  // server stored have an id).
  finish(node, message) {
    this.view.finish(node, message);
    if (message.role !== 'assistant' || !message.id) return;
    this.handoff.answered(message);
    const bar = feedback(this, message.id, message.feedback?.rating);
    node.append(el('div', { class: 'acts', part: 'actions' }, ...[this.voice.reader(node), bar].filter(Boolean)));
  }

  submit() {
    const { input } = this.view;
    const text = input.value.trim();
    // Files alone make a message too: they are what the visitor asks about.
    if ((!text && !this.files.items.length) || this.busy) return;
    input.value = '';
    this.view.fitInput();
    this.ask(text, false, this.files.take());
  }

  sendMessage(text) {
    return this.ask(String(text).trim());
  }

  setBusy(busy) {
    this.busy = busy;
    this.view.setBusy(busy);
  }

  // `files`: the attachments taken from the tray (see attach.js).
  async ask(text, isRetry, files = []) {
    // The restored history goes first, so a message sent during start-up waits for it.
    await this.restoring;
    if ((!text && !files.length) || this.busy) return;
    const { view, events } = this;
    this.error?.remove();
    if (!isRetry) {
      this.bubble('user', text, { role: 'user', attachments: files });
      events.emit('message', { role: 'user', content: text });
    }
    this.setBusy(true);
    const ctrl = (this.ctrl = new AbortController());
    // While a person holds the conversation no assistant answers.
    const typing = this.handoff.held ? el('i') : view.typing();
    view.scroll();
    let node = null;
    let raw = '';
    try {
      const res = await this.chat(text, ctrl.signal, files.length ? await uploaded(files) : undefined);
      if (res.status === 202) {
        // The message went to the person holding the conversation.
        this.handoff.set((await res.json()).handoff);
        return;
      }
      let ended = false;
      for await (const { event, data } of readEvents(res.body)) {
        const payload = JSON.parse(data);
        // Follow the answer unless the visitor has scrolled up to read.
        const follow = view.atBottom();
        if (event === 'queued' || event === 'start') {
          view.waiting(typing, event === 'queued' && Math.max(1, Math.floor(payload.position) || 1));
        } else if (event === 'delta') {
          typing.remove();
          node ||= this.bubble('assistant', '');
          raw += payload.text;
          view.render(node, raw);
          events.emit('delta', payload);
        } else if (event === 'done') {
          ended = true;
          const message = payload.message;
          typing.remove();
          node ||= this.bubble('assistant', '');
          view.render(node, message.content);
          this.finish(node, message);
          view.live.textContent = node.body.textContent;
          this.voice.answered(node);
          events.emit('message', message);
        } else if (event === 'error') {
          throw new ApiError(payload.error?.code || 'error', payload.error?.message);
        }
        if (follow) view.scroll();
        if (ended) break;
      }
      if (!ended) throw new ApiError('network');
    } catch (err) {
      if (node) view.note(node, 'interrupted');
      if (!ctrl.signal.aborted) this.fail(err, text, files);
    } finally {
      typing.remove();
      if (this.ctrl === ctrl) this.ctrl = null;
      this.setBusy(false);
    }
  }

  // Starts the answer's stream; an expired session starts a new one silently, once.
  // Files belong to their session: a new one goes without them.
  async chat(text, signal, attachments) {
    for (let attempt = 0; ; attempt++) {
      const sessionId = await this.session(signal);
      try {
        const res = await this.client.chat(sessionId, text, this.locale, signal, attempt ? undefined : attachments);
        this.state.track(sessionId, text, true);
        return res;
      } catch (err) {
        if (err.code !== 'session_not_found' || attempt) throw err;
        this.state.lost(sessionId);
      }
    }
  }

  // The conversation's session, created once even when files are uploaded side by side.
  async session(signal) {
    const { state } = this;
    if (!state.sid) {
      this.creating ||= this.client.createSession(signal).finally(() => { this.creating = null; });
      state.sid = await this.creating;
      // Whether a person can be asked for is known once there is a conversation to ask about.
      if (this.handoff.offer === undefined) this.handoff.check(state.sid);
    }
    return state.sid;
  }

  // An error in the visitor's words.
  explain(err) {
    return explain(this.t, this.lang, codeOf(err), err.retryAfter);
  }

  fail(err, text, files) {
    const code = codeOf(err);
    const message = this.explain(err);
    const wait = code === 'rate_limited' ? Math.ceil(err.retryAfter || 0) : 0;
    this.error = this.view.failure(message, () => this.ask(text, true, files), wait);
    this.events.emit('error', { code, message: err.message, text: message });
  }

  stop() {
    this.ctrl?.abort();
  }

  // A new conversation; the old one is erased unless `keep`.
  async clear(keep) {
    await this.restoring;
    const { sid } = this.state;
    this.reset();
    if (sid && !keep) {
      this.state.untrack(sid);
      await this.erase(sid).catch(() => {});
    }
  }

  // Shows conversation `sid`, or a new one; `stay` keeps the list open.
  reset(sid = null, stay) {
    this.stop();
    this.voice.stop();
    this.files.clear();
    this.state.sid = sid;
    this.error = null;
    if (!stay) {
      this.list.show(false);
      this.view.input.focus();
    }
    return (this.restoring = this.restore());
  }

  // Erases a conversation on the server and forgets it.
  async erase(sid) {
    await this.client.erase(sid);
    this.state.untrack(sid);
  }

  destroy() {
    this.stop();
    this.handoff.stop(true);
    this.voice.stop();
    this.view.destroy();
    instances.splice(instances.indexOf(this), 1);
    this.events.clear();
  }
}
