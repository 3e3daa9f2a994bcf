// What the widget remembers in localStorage: the current conversation's session id and the
// visitor's recent conversations. Storage may be disabled: then nothing is remembered.
export const store = {
  get: (key) => { try { return localStorage.getItem(key); } catch { return null; } },
  // No value removes the key.
  set: (key, value) => { try { value ? localStorage.setItem(key, value) : localStorage.removeItem(key); } catch { /* storage disabled */ } },
};

const KEPT = 10;

export class Conversations {
  constructor(options, endpoint) {
    // One conversation per endpoint, and per target element for widgets placed in the page.
    const { target, storageKey } = options;
    const place = target && (typeof target === 'string' ? target : '#' + target.id);
    const id = storageKey || new URL(endpoint || '/', location.href).href + (place ? ' ' + place : '');
    this.key = storageKey || 'chatkit:session:' + id;
    // The visitor's recent conversations, unless the site wants a single thread.
    this.enabled = ![false, 'false'].includes(options.conversations);
    this.listKey = 'chatkit:conversations:' + id;
    this.current = store.get(this.key);
  }

  // The current conversation's session id (null: a new one starts with the next message).
  get sid() {
    return this.current;
  }

  set sid(sid) {
    this.current = sid;
    store.set(this.key, sid);
  }

  // The conversation list: [{id, title}], most recently used first.
  saved() {
    try {
      return JSON.parse(store.get(this.listKey)).filter((c) => typeof c?.id === 'string');
    } catch {
      return [];
    }
  }

  save(list) {
    if (this.enabled) store.set(this.listKey, JSON.stringify(list.slice(0, KEPT)));
  }

  // Adds a conversation (also one saved before lists existed), titled by its first question.
  track(id, title, top) {
    const list = this.saved();
    const i = list.findIndex((c) => c.id === id);
    const c = i < 0 ? { id } : list.splice(i, 1)[0];
    c.title ||= String(title || '').replace(/\s+/g, ' ').trim().slice(0, 80);
    list.splice(top || i < 0 ? 0 : i, 0, c);
    this.save(list);
  }

  untrack(id) {
    this.save(this.saved().filter((c) => c.id !== id));
  }

  // The conversation is gone on the server.
  lost(sid) {
    this.untrack(sid);
    if (sid === this.current) this.sid = null;
  }
}
