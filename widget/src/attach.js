import { button, el } from './dom.js';
import { size } from './i18n.js';

// Files attached to the next message. The attach button shows when the server takes uploads
// (GET /api/uploads); each file is uploaded as soon as it is picked, previewed (images from the
// file itself, never from the network) and removable until the message goes.
export class Attachments {
  constructor(w) {
    this.w = w;
    this.items = [];
    this.input = el('input', { type: 'file', multiple: true, hidden: true, change: () => this.pick() });
    this.button = button('attach', w.t.attach, () => this.input.click(), 'clip', { hidden: true });
    this.alert = el('div', { class: 'fail', role: 'alert' });
    this.tray = el('div', { class: 'tray', part: 'attachments' }, this.input, this.alert);
  }

  async start() {
    try {
      this.info = await this.w.client.uploads();
    } catch { /* no uploads from this server */ }
    if (!this.info?.enabled) return;
    this.input.accept = this.info.accept;
    this.button.hidden = false;
  }

  say(text) {
    this.alert.textContent = text;
  }

  pick() {
    const { w, info } = this;
    const files = [...this.input.files];
    this.input.value = '';
    this.say('');
    for (const file of files) {
      if (this.items.length >= info.maxPerMessage) return this.say(w.t.too_many_attachments);
      if (file.size > info.maxBytes) {
        this.say(w.t.tooBig.replace('{n}', size(w.lang, info.maxBytes)));
        continue;
      }
      this.add(file);
    }
  }

  add(file) {
    const { w } = this;
    const name = file.name;
    const chip = el('div', { class: 'file', part: 'attachment', 'aria-busy': 'true' }, el('span', {}, name),
      button('remove', `${w.t.remove}: ${name}`, () => (this.drop(item), w.view.input.focus()), 'close'));
    const item = { name, chip };
    if (/^image\//.test(file.type)) this.preview(file, chip);
    item.done = w.session()
      .then((sid) => w.client.upload(sid, file))
      .then((attachment) => (chip.removeAttribute('aria-busy'), attachment), (err) => {
        this.drop(item);
        this.say(err.code === 'body_too_large' ? w.t.tooBig.replace('{n}', size(w.lang, this.info.maxBytes))
          : w.explain(err));
      });
    this.items.push(item);
    this.tray.insertBefore(chip, this.alert);
  }

  // A thumbnail read from the file on the visitor's own device (a data: URL).
  preview(file, chip) {
    const reader = new FileReader();
    reader.onload = () => {
      const img = el('img', { alt: '', error: () => img.remove() });
      img.src = reader.result;
      chip.prepend(img);
    };
    reader.readAsDataURL(file);
  }

  drop(item) {
    item.chip.remove();
    this.items = this.items.filter((i) => i !== item);
    item.dropped = true;
  }

  // The files for the message being sent, taken out of the tray.
  take() {
    const items = this.items;
    this.clear();
    return items;
  }

  clear() {
    for (const item of this.items) item.chip.remove();
    this.items = [];
    this.say('');
  }
}

// The ids of the files that were uploaded and not removed meanwhile.
export const uploaded = async (items) =>
  (await Promise.all(items.map((i) => i.done))).filter((a, n) => a && !items[n].dropped).map((a) => a.id);
