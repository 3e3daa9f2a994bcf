// A widget's event listeners: `ready`, `open`, `close`, `message`, `delta`, `error`, `feedback`.
export class Emitter {
  constructor() {
    this.listeners = {};
    this.ready = false;
  }

  on(event, fn) {
    (this.listeners[event] ||= new Set()).add(fn);
    // A listener added after start-up still hears "ready".
    if (event === 'ready' && this.ready) queueMicrotask(() => this.listeners.ready?.has(fn) && fn());
  }

  off(event, fn) {
    this.listeners[event]?.delete(fn);
  }

  // A listener's exception is logged and does not stop the others or the widget.
  emit(event, detail) {
    for (const fn of this.listeners[event] || []) {
      try {
        fn(detail);
      } catch (err) {
        console.error(err);
      }
    }
  }

  // "ready" fires once, when the saved conversation has been restored.
  markReady() {
    if (this.ready) return;
    this.ready = true;
    this.emit('ready');
  }

  clear() {
    this.listeners = {};
  }
}
