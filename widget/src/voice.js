import { button } from './dom.js';
import { store } from './state.js';

const KEY = 'chatkit:read-aloud';
// What the visitor is told of a recognizer's error: no microphone they may use (`not-allowed`,
// `service-not-allowed`, `audio-capture`), nothing heard, or anything else failing (`network`…).
const said = (code) => (/allowed|capture/.test(code) ? 'micBlocked' : code === 'no-speech' ? 'noSpeech' : 'micFailed');

// Speech in and out through the browser's own Web Speech API. The widget sends nothing itself:
// recognition and synthesis are the browser's (and whatever speech service it uses).
export class Voice {
  constructor(w) {
    this.w = w;
    const { t } = w;
    this.Rec = window.SpeechRecognition || window.webkitSpeechRecognition;
    this.synth = window.SpeechSynthesisUtterance && window.speechSynthesis;
    if (this.Rec) this.mic = button('mic', t.speak, () => this.listen(), 'mic', { 'aria-pressed': 'false' });
    // Reading every answer aloud is off until the visitor turns it on, and remembered.
    if (this.synth) {
      this.auto = button('read-aloud', t.readAll, () => this.toggle(), 'speaker', { 'aria-pressed': String(this.on) });
    }
  }

  get on() {
    return store.get(KEY) === 'on';
  }

  toggle() {
    const on = !this.on;
    store.set(KEY, on && 'on');
    this.auto.setAttribute('aria-pressed', on);
    if (!on) this.hush();
  }

  // Dictation into the message box: interim words as they come, sent when the visitor pauses
  // (the recognizer ends) or taps the microphone again.
  listen() {
    if (this.rec) return this.rec.stop();
    const { w, mic } = this;
    const { input } = w.view;
    const rec = (this.rec = new this.Rec());
    const typed = input.value.trim();
    let heard = '';
    rec.lang = w.locale || w.lang;
    rec.interimResults = true;
    rec.onresult = (e) => {
      heard = [...e.results].map((r) => r[0].transcript).join('').trim();
      input.value = [typed, heard].filter(Boolean).join(' ');
      w.view.fitInput();
    };
    // Said where attachment errors are (role=alert), so a screen reader hears it too; the end
    // that always follows an error resets the button.
    rec.onerror = (e) => {
      heard = '';
      const code = e?.error;
      if (code && code !== 'aborted') w.files.say(w.t[said(code)]);
    };
    rec.onend = () => {
      this.rec = null;
      mic.setAttribute('aria-pressed', 'false');
      if (heard) w.submit();
    };
    w.files.say('');
    mic.setAttribute('aria-pressed', 'true');
    try {
      rec.start();
    } catch {
      rec.onend();
    }
  }

  // The read-aloud button of an answer's bubble.
  reader(node) {
    if (!this.synth) return null;
    const read = button('read', this.w.t.read, () => this.speak(node), 'speaker', { 'aria-pressed': 'false' });
    return (node.read = read);
  }

  // Reads the answer in `node`; pressed again, stops.
  speak(node) {
    const again = this.playing === node.read;
    this.hush();
    if (again || !node.read) return;
    const read = (this.playing = node.read);
    const said = new SpeechSynthesisUtterance(node.body.textContent);
    said.lang = this.w.locale || this.w.lang;
    said.onend = said.onerror = () => this.playing === read && this.hush();
    read.setAttribute('aria-pressed', 'true');
    this.synth.speak(said);
  }

  // A finished answer is read out when the visitor asked for every answer.
  answered(node) {
    if (this.synth && this.on) this.speak(node);
  }

  hush() {
    this.playing?.setAttribute('aria-pressed', 'false');
    this.playing = null;
    this.synth?.cancel();
  }

  // Stops listening without sending, and speaking.
  stop() {
    const { rec } = this;
    if (rec) {
      rec.onerror();
      rec.onend();
      rec.abort();
    }
    this.hush();
  }
}
