// Server-Sent Events from a fetch body: yields {event, data} for each dispatched event.
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = 'message';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      // A trailing "\r" may be the first half of "\r\n": keep it until the next chunk.
      const lines = (buffer + value).split(/\r\n|\r(?!$)|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (!line) {
          if (data.length) yield { event, data: data.join('\n') };
          event = 'message';
          data = [];
          continue;
        }
        const colon = line.indexOf(':');
        if (colon === 0) continue;
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
    }
  } finally {
    // Leaving early (after the terminal event, or on abort) releases the connection.
    reader.cancel().catch(() => {});
  }
}

export class ApiError extends Error {
  constructor(code, message, retryAfter) {
    super(message || code);
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

const apiError = async (res) => {
  let body = {};
  try {
    body = (await res.json()).error || {};
  } catch { /* a non-JSON error page from a proxy */ }
  const retryAfter = body.retryAfter ?? Number(res.headers.get('Retry-After'));
  return new ApiError(body.code || (res.status === 429 ? 'rate_limited' : 'error'), body.message, retryAfter || 0);
};

// The code of a failure: the API's, or `network` when no answer came.
export const codeOf = (err) => (err instanceof ApiError ? err.code : 'network');

const path = (sid) => '/api/session/' + encodeURIComponent(sid);

// Servers whose refusal of this page has been logged: once per page is enough.
const reported = new Set();

// The HTTP API of one ChatKit server.
export class Client {
  constructor(endpoint, siteKey) {
    this.endpoint = endpoint;
    this.siteKey = siteKey;
    this.server = new URL(endpoint || '/', location.href).origin;
  }

  async request(path, init = {}) {
    const headers = { ...init.headers };
    // A FormData body (an upload) carries its own multipart type.
    if (typeof init.body === 'string') headers['Content-Type'] = 'application/json';
    if (this.siteKey) headers['X-ChatKit-Site-Key'] = this.siteKey;
    try {
      return await fetch(this.endpoint + path, { ...init, headers, credentials: 'omit' });
    } catch (err) {
      if (!init.signal?.aborted && await this.refusesOrigin()) {
        throw new ApiError('forbidden', 'This page\'s origin is not in the server\'s allowed_origins.');
      }
      throw err;
    }
  }

  // A request the browser fails outright is a network error or a CORS refusal: the two look the
  // same from here. The widget's manifest is readable from any origin, so when it loads, the
  // server is up and the API refused this page's origin: say so once, to the site's developer.
  async refusesOrigin() {
    const page = location.origin;
    if (this.server === page) return false;
    try {
      if (!(await fetch(this.endpoint + '/widget/manifest.json', { credentials: 'omit', cache: 'no-store' })).ok) {
        return false;
      }
    } catch {
      return false;
    }
    if (!reported.has(this.server)) {
      reported.add(this.server);
      console.error(`ChatKit: the chat server ${this.server} refused this page's origin ${page}, so the widget ` +
        `cannot reach its API. Add "${page}" to [server] allowed_origins in the server's config file ` +
        '(or to ALLOWED_ORIGINS) and restart it.');
    }
    return true;
  }

  // A JSON API call; throws the API's error.
  async json(path, init) {
    const res = await this.request(path, init);
    if (!res.ok) throw await apiError(res);
    return res.status === 204 ? null : res.json();
  }

  async createSession(signal) {
    return (await this.json('/api/create-session', { method: 'POST', body: '{}', signal })).sessionId;
  }

  history(sid) {
    return this.json(path(sid) + '/messages');
  }

  // Whether visitors may attach files: {enabled, accept, maxBytes, maxPerMessage}.
  uploads() {
    return this.json('/api/uploads');
  }

  // Attaches `file` to the conversation; resolves to {id, type, bytes, name}.
  async upload(sid, file) {
    const body = new FormData();
    body.append('file', file);
    return (await this.json(path(sid) + '/attachments', { method: 'POST', body })).attachment;
  }

  // Streams the answer to `text` (Server-Sent Events); the response is returned as it starts.
  // While a person holds the conversation it is 202 with JSON instead, and no answer comes.
  async chat(sessionId, text, locale, signal, attachments) {
    const res = await this.request('/api/chat', {
      method: 'POST', signal, headers: { Accept: 'text/event-stream' },
      body: JSON.stringify({ sessionId, message: text, stream: true, locale, attachments }),
    });
    if (!res.ok) throw await apiError(res);
    return res;
  }

  // Rates an answer; resolves to the updated message.
  rate(sid, messageId, rating, comment) {
    return this.json(`${path(sid)}/messages/${encodeURIComponent(messageId)}/feedback`,
      { method: 'POST', body: JSON.stringify({ rating, comment }) });
  }

  // The conversation's handoff to a person and when the widget offers one: {handoff, offer}.
  handoff(sid) {
    return this.json(path(sid) + '/handoff');
  }

  // Asks for a person, with an optional note; resolves to {handoff}.
  askForPerson(sid, message, locale) {
    return this.json(path(sid) + '/handoff', { method: 'POST', body: JSON.stringify({ message, locale }) });
  }

  // The conversation's event stream (EventSource sends no headers: the site key goes in `query`).
  eventsUrl(sid, query) {
    const search = String(query);
    return this.endpoint + path(sid) + '/events' + (search ? '?' + search : '');
  }

  // Erases a conversation (already gone is fine).
  async erase(sid) {
    await this.json(path(sid), { method: 'DELETE' }).catch((err) => {
      if (err.code !== 'session_not_found') throw err;
    });
  }
}
