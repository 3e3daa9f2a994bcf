import { el } from './dom.js';

// "Talk to a person": the control (as the server's `offer` says), the handoff's state, and while
// one is open the conversation's event stream with the person's messages. With handoffs off,
// GET /api/session/{id}/handoff answers offer "never" (an older server: 404): nothing shows.
export class Handoff {
  constructor(w) {
    this.w = w;
    // undefined: not asked yet; null: handoffs are off.
    this.offer = undefined;
    this.status = el('span', { role: 'status', dir: 'auto' });
    this.button = el('button', { type: 'button', part: 'talk', click: () => this.ask() }, w.t.talk);
    this.bar = el('div', { class: 'handoff', part: 'handoff', hidden: true }, this.status, this.button);
    this.reset();
  }

  // A new or another conversation: nothing asked, nothing shown.
  reset() {
    this.stop();
    this.record = null;
    this.failed = '';
    this.declined = false;
    this.last = 0;
    this.said = null;
    // The person's messages shown, by id: a message replayed by the stream is not shown twice.
    this.shown = new Map();
    this.render();
  }

  get open() {
    return ['waiting', 'active'].includes(this.record?.state);
  }

  // An operator holds the conversation: the visitor's messages go to them, no answer comes.
  get held() {
    return this.record?.state === 'active';
  }

  // The offer and the handoff of conversation `sid`; never throws.
  async check(sid) {
    if (this.offer === null) return;
    try {
      const { handoff, offer } = await this.w.client.handoff(sid);
      this.offer = offer === 'never' && !handoff ? null : offer;
      if (sid === this.w.state.sid) this.set(handoff);
    } catch (err) {
      if (err.code === 'not_found') this.offer = null;
    }
    this.render();
  }

  // A state from the server. One of an earlier request (the stream replays the log) is ignored.
  set(record, live) {
    const now = this.record;
    if (!record || (now && record.requestedAt < now.requestedAt)) return;
    this.record = record;
    // Handed back is said only when it happens here, not for a conversation restored long after.
    this.said = record.state === 'closed' && !(live && now && now.state !== 'closed') ? null : record.state;
    // The stream starts once the history is shown, so a replayed message keeps its place.
    if (this.open) this.w.restoring.then(() => this.open && this.start());
    else this.stop();
    this.render();
    if (now?.state !== record.state || now?.operator !== record.operator) this.w.events.emit('handoff', record);
  }

  // Whether the visitor sees the control: as offered, and never while a person is asked for or there.
  render() {
    const { t } = this.w;
    const { offer, record } = this;
    const texts = { waiting: t.asked, active: t.joined.replace('{name}', () => this.name()), closed: t.back };
    this.button.hidden = this.open || !offer || offer === 'never' || (offer === 'after_decline' && !this.declined);
    this.status.textContent = this.failed || (record && texts[this.said]) || '';
    this.bar.hidden = this.button.hidden && !this.status.textContent;
  }

  name() {
    return this.record?.operator || this.w.t.person;
  }

  // An answer without sources: with `after_decline`, the control shows from now on.
  answered(message) {
    if (message.sources?.length) return;
    this.declined = true;
    this.render();
  }

  // Asks for a person, with what the visitor has typed as the note.
  async ask() {
    const { w } = this;
    const { input } = w.view;
    const note = input.value.trim();
    this.button.disabled = true;
    this.failed = '';
    try {
      const sid = await w.session();
      const { handoff } = await w.client.askForPerson(sid, note, w.locale);
      w.state.track(sid, note || w.t.talk, true);
      if (note && !this.open) {
        input.value = '';
        w.view.fitInput();
        w.bubble('user', note);
        w.view.scroll();
      }
      this.set(handoff, true);
    } catch (err) {
      this.failed = w.explain(err);
      this.render();
    } finally {
      this.button.disabled = false;
    }
  }

  // The conversation's events, while a handoff is open. EventSource reconnects by itself with
  // Last-Event-ID; one the server refused is opened again later from the last event seen.
  start() {
    if (this.source || this.timer || this.gone || !window.EventSource) return;
    const { client, state } = this.w;
    const query = new URLSearchParams();
    if (client.siteKey) query.set('siteKey', client.siteKey);
    if (this.last) query.set('lastEventId', this.last);
    const source = (this.source = new EventSource(client.eventsUrl(state.sid, query)));
    const on = (name, fn) => source.addEventListener(name, (e) => {
      this.last = Number(e.lastEventId) || this.last;
      fn(JSON.parse(e.data));
    });
    on('handoff', (d) => this.set(d.handoff, true));
    on('message', (d) => d.message?.role === 'operator' && this.show(d.message, true));
    on('translation', (d) => this.translated(d.translation));
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return;
      this.source = null;
      this.wait = Math.min((this.wait || 1) * 2, 60);
      if (this.open) this.timer = setTimeout(() => { this.timer = null; this.start(); }, this.wait * 1000);
    };
    source.onopen = () => { this.wait = 0; };
  }

  // `gone`: the widget was destroyed, no stream opens again.
  stop(gone) {
    this.gone ||= gone;
    this.source?.close();
    clearTimeout(this.timer);
    this.source = this.timer = null;
  }

  // A person's message, named after them; `live` ones are announced.
  show(message, live) {
    if (this.shown.has(message.id)) return;
    const { view, events } = this.w;
    const follow = view.atBottom();
    const node = view.bubble('operator', message.content, this.name());
    this.shown.set(message.id, node);
    if (live) {
      view.live.textContent = `${this.name()}: ${message.content}`;
      events.emit('message', message);
    }
    if (follow || !live) view.scroll();
  }

  // The person's message in the visitor's language, the original a button press away; or a note
  // that it could not be translated.
  translated({ messageId, content, untranslated } = {}) {
    const node = this.shown.get(messageId);
    const { view, t } = this.w;
    if (!node || node.querySelector('.flip')) return;
    if (typeof content !== 'string') {
      if (untranslated) view.note(node, 'untranslated');
      return;
    }
    const original = node.body.textContent;
    let showing = false;
    const flip = el('button', {
      type: 'button', class: 'flip', part: 'original', click: () => {
        showing = !showing;
        node.body.textContent = showing ? original : content;
        flip.textContent = showing ? t.translated : t.original;
      },
    }, t.original);
    node.body.textContent = content;
    node.append(flip);
  }
}
