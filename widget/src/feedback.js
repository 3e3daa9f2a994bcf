import { button, el } from './dom.js';

// Thumbs up and down under answer `id` of widget `w`; after thumbs down, an optional comment.
export function feedback(w, id, rated) {
  const { t, client } = w;
  const { shadow } = w.view;
  const sid = w.state.sid;
  const fail = el('span', { class: 'fail', role: 'alert' });
  const bar = el('div', { class: 'fb', part: 'feedback', role: 'group', 'aria-label': t.rate });
  let form;
  // Focus moves only from where the visitor left it (`from`, or nowhere: some browsers do not
  // focus a clicked button), never from the message box or the page they went on to meanwhile.
  const stillIn = (from) => {
    const active = shadow.activeElement;
    return active ? from.contains(active) : [document.body, null].includes(document.activeElement);
  };
  const close = (focus) => {
    const back = focus && form && stillIn(form);
    form?.remove();
    if (back) down.focus();
  };
  const send = async (rating, comment) => {
    fail.remove();
    try {
      rated = (await client.rate(sid, id, rating, comment)).feedback?.rating;
      for (const b of [up, down]) b.setAttribute('aria-pressed', b.value === rated);
      w.events.emit('feedback', { messageId: id, rating, comment: comment || '' });
      return true;
    } catch (err) {
      bar.append(fail);
      fail.textContent = w.explain(err);
    }
  };
  const comment = () => {
    const input = el('textarea', { rows: '2', maxlength: '500', dir: 'auto', placeholder: t.comment, 'aria-label': t.comment });
    form = el('form', {
      submit: async (e) => {
        e.preventDefault();
        const text = input.value.trim();
        if (!text || await send('down', text)) close(true);
      },
      keydown: (e) => {
        if (e.key !== 'Escape') return;
        e.stopPropagation();
        close(true);
      },
    }, input, el('button', {}, t.send), el('button', { type: 'button', click: () => close(true) }, t.skip));
    bar.append(form);
    // The rating is sent first: the visitor may have moved on (e.g. to the message box) by now.
    if (stillIn(down)) input.focus();
  };
  const [up, down] = ['up', 'down'].map((rating) => button('rate ' + rating, t[rating], async () => {
    close();
    // A new rating replaces the old one; thumbs down (again) opens the comment box.
    if ((rated === rating || await send(rating)) && rating === 'down') comment();
  }, 'thumb', { value: rating, 'aria-pressed': String(rated === rating) }));
  bar.append(up, down);
  return bar;
}
