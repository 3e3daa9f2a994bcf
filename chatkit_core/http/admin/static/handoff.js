// The console's handoff pages, kept live by Server-Sent Events. Text only ever becomes DOM text
// (textContent), never markup. The operator's name and language are this browser's settings.
"use strict";

const settings = {
  get name() { return localStorage.getItem("chatkit.operator") || ""; },
  get locale() { return localStorage.getItem("chatkit.operatorLocale") || ""; },
  save(name, locale) {
    localStorage.setItem("chatkit.operator", name.trim());
    localStorage.setItem("chatkit.operatorLocale", locale.trim());
  },
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
}

async function api(csrf, method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Error((data.error && data.error.message) || `The server answered ${response.status}.`);
  return data;
}

function showError(node, error) {
  node.textContent = error ? error.message || String(error) : "";
  node.hidden = !error;
}

// The list of conversations waiting (or held), re-read on every handoff event and refresh.
function listPage(table) {
  const csrf = table.dataset.csrf;
  const rows = document.getElementById("handoff-rows");
  const empty = document.getElementById("no-handoffs");
  const problem = document.getElementById("list-error");
  const form = document.getElementById("operator-settings");
  const name = document.getElementById("operator-name");
  const locale = document.getElementById("operator-locale");
  name.value = settings.name;
  locale.value = settings.locale;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    settings.save(name.value, locale.value);
    document.getElementById("settings-saved").textContent = "Saved.";
  });

  async function claim(handoff) {
    if (!settings.name) { showError(problem, new Error("Type your name and save it first.")); name.focus(); return; }
    try {
      await api(csrf, "POST", `/admin/api/handoffs/${encodeURIComponent(handoff.conversationId)}/claim`,
                { operator: settings.name, locale: settings.locale });
      location.href = `/admin/handoffs/${encodeURIComponent(handoff.conversationId)}`;
    } catch (error) { showError(problem, error); load(); }
  }

  function row(handoff, notes) {
    const tr = el("tr", "handoff-row");
    tr.dataset.conversation = handoff.conversationId;
    tr.append(el("td", "when", when(handoff.requestedAt)));
    const state = el("td");
    state.append(el("span", `flag ${handoff.state}`, handoff.state));
    tr.append(state, el("td", "", handoff.operator || ""), el("td", "note", notes[handoff.conversationId] || ""));
    const actions = el("td");
    if (handoff.state === "waiting") {
      const button = el("button", "claim", "Claim");
      button.type = "button";
      button.addEventListener("click", () => claim(handoff));
      actions.append(button, " ");
    }
    const open = el("a", "open", "Open");
    open.href = `/admin/handoffs/${encodeURIComponent(handoff.conversationId)}`;
    actions.append(open);
    tr.append(actions);
    return tr;
  }

  async function load() {
    try {
      const data = await api(csrf, "GET", "/admin/api/handoffs");
      rows.replaceChildren(...data.handoffs.map((handoff) => row(handoff, data.notes || {})));
      empty.hidden = data.handoffs.length > 0;
      if (!problem.textContent.startsWith("Type")) showError(problem, null);
    } catch (error) { showError(problem, error); }
  }

  const stream = new EventSource("/admin/api/handoff-events");
  for (const name of ["handoff", "refresh"]) stream.addEventListener(name, load);
  stream.addEventListener("open", load);
  load();
}

// One conversation: the transcript, replies, hand-back, its audit, live.
function conversationPage(section) {
  const id = section.dataset.conversation;
  const csrf = section.dataset.csrf;
  const base = `/admin/api/handoffs/${encodeURIComponent(id)}`;
  const problem = document.getElementById("handoff-error");
  const transcript = document.getElementById("transcript");
  const buttons = { claim: document.getElementById("claim"), back: document.getElementById("hand-back"),
                    close: document.getElementById("close") };
  const form = document.getElementById("reply");
  const text = document.getElementById("reply-text");
  const messages = new Map();
  const translations = new Map();
  const asked = new Set();
  let detail = null;

  function labelOf(role) { return { user: "Visitor", assistant: "Assistant", operator: "Operator" }[role] || role; }

  function details(message) {
    const list = el("dl", "details");
    const add = (term, value) => { list.append(el("dt", "", term), el("dd", "", value)); };
    add("Provider", message.provider ? `${message.provider}${message.model ? ` (${message.model})` : ""}` : "none");
    const sources = el("dd");
    for (const source of message.sources || []) {
      const item = el("span", "source", source.title + " ");
      item.append(el("code", "", source.url));
      sources.append(item);
    }
    if (!(message.sources || []).length) sources.textContent = "none";
    list.append(el("dt", "", "Sources"), sources);
    const rating = message.feedback ? `thumbs ${message.feedback.rating}` +
      (message.feedback.comment ? `: ${message.feedback.comment}` : "") : "none";
    add("Feedback", rating);
    return list;
  }

  function render(message) {
    const item = el("li", `message ${message.role}`);
    item.dataset.id = message.id;
    item.append(el("div", "who", `${labelOf(message.role)} · ${when(message.createdAt)}`));
    const content = el("pre", "content", message.content);
    item.append(content);
    const translation = translations.get(message.id);
    if (translation) {
      const note = el("div", "translation");
      if (translation.content === null) {
        note.textContent = `Not translated (${translation.untranslated.replace("_", " ")}).`;
      } else {
        content.textContent = translation.content;
        note.textContent = `Translated into ${translation.locale}.`;
        const toggle = el("button", "original", "Show original");
        toggle.type = "button";
        toggle.addEventListener("click", () => {
          const showing = content.textContent === message.content;
          content.textContent = showing ? translation.content : message.content;
          toggle.textContent = showing ? "Show original" : "Show translation";
        });
        note.append(toggle);
      }
      item.append(note);
    }
    if (message.role === "assistant") item.append(details(message));
    const existing = transcript.querySelector(`li[data-id="${CSS.escape(message.id)}"]`);
    if (existing) existing.replaceWith(item); else transcript.append(item);
  }

  function differ(one, other) {
    return one && other && one.split(/[-_]/)[0].toLowerCase() !== other.split(/[-_]/)[0].toLowerCase();
  }

  function translateEarlier() {
    const locale = detail.operatorLocale || settings.locale;
    if (!differ(detail.visitorLocale, locale) || detail.handoff.operator !== settings.name) return;
    for (const message of [...messages.values()].filter((m) => m.role === "user").slice(-20)) {
      if (translations.has(message.id) || asked.has(message.id)) continue;
      asked.add(message.id);
      api(csrf, "POST", `${base}/translations`, { messageId: message.id, locale }).catch(() => {});
    }
  }

  function showState() {
    const handoff = detail.handoff;
    const mine = handoff.state === "active" && handoff.operator === settings.name;
    document.getElementById("state").textContent = handoff.state;
    document.getElementById("state").className = `flag ${handoff.state}`;
    document.getElementById("holder").textContent = handoff.operator ? `held by ${handoff.operator}` : "nobody holds it";
    document.getElementById("asked").textContent = when(handoff.requestedAt);
    document.getElementById("languages").textContent =
      `visitor's language: ${detail.visitorLocale || "unknown"}, yours: ${settings.locale || "not set"}`;
    buttons.claim.hidden = handoff.state !== "waiting";
    buttons.close.hidden = handoff.state !== "waiting";
    buttons.back.hidden = !mine;
    form.hidden = !mine;
    const audit = document.getElementById("audit");
    audit.replaceChildren(...detail.audit.map((entry) => el("li", "", `${when(entry.at)} · ${entry.who} ${entry.what}`)));
  }

  async function load() {
    try {
      detail = await api(csrf, "GET", base);
      for (const message of detail.messages) { messages.set(message.id, message); render(message); }
      showState();
      translateEarlier();
      showError(problem, null);
    } catch (error) { showError(problem, error); }
  }

  async function act(path, body) {
    try { await api(csrf, "POST", `${base}/${path}`, body); await load(); } catch (error) { showError(problem, error); }
  }

  buttons.claim.addEventListener("click", () => {
    if (!settings.name) { showError(problem, new Error("Set your name on the list page first.")); return; }
    act("claim", { operator: settings.name, locale: settings.locale });
  });
  buttons.back.addEventListener("click", () => act("release", { operator: settings.name }));
  buttons.close.addEventListener("click", () => act("release", settings.name ? { operator: settings.name } : {}));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = text.value.trim();
    if (!content) return;
    try {
      const data = await api(csrf, "POST", `${base}/messages`, { content, operator: settings.name });
      messages.set(data.message.id, data.message);
      render(data.message);
      text.value = "";
      showError(problem, null);
    } catch (error) { showError(problem, error); }
  });

  load().then(() => {
    const live = document.getElementById("live");
    const stream = new EventSource(`${base}/events?lastEventId=${detail ? detail.lastEventId : 0}`);
    stream.addEventListener("open", () => { live.textContent = "live"; });
    stream.addEventListener("error", () => { live.textContent = "reconnecting…"; });
    stream.addEventListener("message", (event) => {
      const message = JSON.parse(event.data).message;
      messages.set(message.id, message);
      render(message);
      if (detail) translateEarlier();
    });
    stream.addEventListener("translation", (event) => {
      const translation = JSON.parse(event.data).translation;
      translations.set(translation.messageId, translation);
      const message = messages.get(translation.messageId);
      if (message) render(message);
    });
    stream.addEventListener("handoff", () => load());
  });
}

const table = document.getElementById("handoffs");
if (table) listPage(table);
const section = document.getElementById("handoff");
if (section) conversationPage(section);
