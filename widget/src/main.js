// The widget's entry point: the ChatKit global, and a widget started from the script tag.
import { instances, Widget } from './widget.js';

// The widget's version, written in at build time from chatkit_core/VERSION.
const VERSION = typeof __CHATKIT_VERSION__ === 'string' ? __CHATKIT_VERSION__ : 'dev';

// What a page may call on a widget: nothing else of it is reachable.
const publicApi = (widget) => {
  const api = {};
  for (const name of ['open', 'close', 'toggle', 'sendMessage', 'clear', 'destroy']) {
    api[name] = (...args) => widget[name](...args);
  }
  api.on = (event, fn) => (widget.on(event, fn), api);
  api.off = (event, fn) => (widget.off(event, fn), api);
  return api;
};

const init = (options) => {
  if (!document.body) throw new Error('ChatKit.init needs document.body; call it after the page has loaded.');
  const widget = new Widget(options);
  return (widget.handle = publicApi(widget));
};

// The only global. A second copy of the script on the page keeps the first one's.
const ChatKit = window.ChatKit || Object.freeze({
  version: VERSION,
  init,
  get instances() { return instances.map((w) => w.handle); },
});
window.ChatKit = ChatKit;

// Auto-start from this script tag's data-* attributes when it has data-endpoint.
const script = document.currentScript;
if (script && script.hasAttribute('data-endpoint')) {
  const d = script.dataset;
  const start = () => ChatKit.init({
    endpoint: d.endpoint, title: d.title, welcomeMessage: d.welcomeMessage, locale: d.locale, theme: d.theme,
    position: d.position, target: d.target, siteKey: d.siteKey, mode: d.mode, conversations: d.conversations,
  });
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
}
