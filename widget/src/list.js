import { button, el, icon } from './dom.js';

// The conversations view of widget `w`: new, switch and delete, in place of the messages.
export class ConversationList {
  constructor(w) {
    this.w = w;
  }

  show(show, e) {
    const { w } = this;
    const { view } = w;
    if (!w.state.enabled || show === !view.list.hidden) return;
    e?.stopPropagation();
    view.showList(show);
    if (show) this.fill();
    else (e ? view.listBtn : view.input).focus();
  }

  // Lists the saved conversations, with `fail` (a failed delete) under them.
  fill(fail) {
    const { w } = this;
    const { t, state } = w;
    const item = (c) => {
      const title = (typeof c.title === 'string' && c.title) || t.newChat;
      return el('li', {}, el('button', {
        class: 'pick', type: 'button', 'aria-current': c.id === state.sid ? 'true' : null,
        click: () => c.id === state.sid ? this.show(false) : w.reset(c.id),
      }, el('span', { dir: 'auto' }, title)), button(null, `${t.del}: ${title}`, async () => {
        try {
          await w.erase(c.id);
          if (c.id === state.sid) w.reset(null, true);
          this.fill();
        } catch (err) {
          this.fill(err);
        }
      }, 'trash'));
    };
    const list = w.view.list;
    list.replaceChildren(el('h3', {}, t.conversations),
      el('button', { class: 'pick', type: 'button', click: () => w.clear(true) }, icon('new'), el('span', {}, t.newChat)),
      el('ul', {}, ...state.saved().map(item)), fail ? el('p', { class: 'fail', role: 'alert' }, w.explain(fail)) : '');
    (list.querySelector('[aria-current]') || list.querySelector('button')).focus();
  }
}
