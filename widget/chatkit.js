/*! ChatKit widget | MIT License | zero dependencies, no build step */
(() => {
  'use strict';

  const VERSION = '0.1.0';

  const STRINGS = {
    en: {
      title: 'Chat with us', welcome: 'Hi! How can we help you today?', placeholder: 'Type your message…',
      send: 'Send', stop: 'Stop', open: 'Open chat', close: 'Close chat', newChat: 'New conversation',
      retry: 'Try again', typing: 'The assistant is typing', interrupted: '(answer interrupted)',
      shortened: '(answer shortened)', sources: 'Sources', queued: 'Waiting for the assistant…',
      queuedAt: 'Waiting for the assistant… (position {n})',
      you: 'You', assistant: 'Assistant', conversation: 'Conversation', message: 'Message',
      network: 'Could not reach the chat service. Check your connection and try again.',
      rate_limited: 'Too many messages. Please try again in {n}.',
      providers_unavailable: 'The assistant is unavailable right now. Please try again in a moment.',
      message_too_long: 'That message is too long. Please shorten it and try again.',
      forbidden: 'This website is not allowed to use the chat service.',
      invalid_request: 'The message could not be sent. Please try again.',
      error: 'Something went wrong. Please try again.',
      rate: 'Rate this answer', up: 'Helpful', down: 'Not helpful', comment: 'What was wrong? (optional)',
      skip: 'Skip', conversations: 'Conversations', del: 'Delete conversation',
    },
    es: {
      title: 'Chatea con nosotros', welcome: '¡Hola! ¿En qué podemos ayudarte hoy?',
      placeholder: 'Escribe tu mensaje…', send: 'Enviar', stop: 'Detener', open: 'Abrir chat',
      close: 'Cerrar chat', newChat: 'Nueva conversación', retry: 'Reintentar',
      typing: 'El asistente está escribiendo', interrupted: '(respuesta interrumpida)',
      shortened: '(respuesta acortada)', sources: 'Fuentes',
      queued: 'Esperando al asistente…', queuedAt: 'Esperando al asistente… (posición {n})', you: 'Tú',
      assistant: 'Asistente', conversation: 'Conversación', message: 'Mensaje',
      network: 'No se pudo conectar con el servicio de chat. Comprueba tu conexión e inténtalo de nuevo.',
      rate_limited: 'Demasiados mensajes. Inténtalo de nuevo en {n}.',
      providers_unavailable: 'El asistente no está disponible en este momento. Inténtalo de nuevo en un momento.',
      message_too_long: 'El mensaje es demasiado largo. Acórtalo e inténtalo de nuevo.',
      forbidden: 'Este sitio web no tiene permiso para usar el servicio de chat.',
      invalid_request: 'No se pudo enviar el mensaje. Inténtalo de nuevo.',
      error: 'Algo salió mal. Inténtalo de nuevo.',
      rate: 'Valora esta respuesta', up: 'Útil', down: 'No útil', comment: '¿Qué falló? (opcional)',
      skip: 'Omitir', conversations: 'Conversaciones', del: 'Eliminar conversación',
    },
    fr: {
      title: 'Discutons', welcome: 'Bonjour ! Comment pouvons-nous vous aider ?',
      placeholder: 'Écrivez votre message…', send: 'Envoyer', stop: 'Arrêter', open: 'Ouvrir le chat',
      close: 'Fermer le chat', newChat: 'Nouvelle conversation', retry: 'Réessayer',
      typing: 'L’assistant écrit', interrupted: '(réponse interrompue)',
      shortened: '(réponse raccourcie)', sources: 'Sources',
      queued: 'En attente de l’assistant…', queuedAt: 'En attente de l’assistant… (position {n})', you: 'Vous',
      assistant: 'Assistant', conversation: 'Conversation', message: 'Message',
      network: 'Impossible de joindre le service de chat. Vérifiez votre connexion et réessayez.',
      rate_limited: 'Trop de messages. Réessayez dans {n}.',
      providers_unavailable: 'L’assistant est indisponible pour le moment. Réessayez dans un instant.',
      message_too_long: 'Ce message est trop long. Raccourcissez-le et réessayez.',
      forbidden: 'Ce site n’est pas autorisé à utiliser le service de chat.',
      invalid_request: 'Le message n’a pas pu être envoyé. Réessayez.',
      error: 'Une erreur s’est produite. Réessayez.',
      rate: 'Évaluer cette réponse', up: 'Utile', down: 'Pas utile', comment: 'Qu’est-ce qui n’allait pas ? (facultatif)',
      skip: 'Passer', conversations: 'Conversations', del: 'Supprimer la conversation',
    },
    de: {
      title: 'Schreiben Sie uns', welcome: 'Hallo! Wie können wir Ihnen heute helfen?',
      placeholder: 'Nachricht eingeben…', send: 'Senden', stop: 'Stopp', open: 'Chat öffnen',
      close: 'Chat schließen', newChat: 'Neues Gespräch', retry: 'Erneut versuchen',
      typing: 'Der Assistent schreibt', interrupted: '(Antwort unterbrochen)',
      shortened: '(Antwort gekürzt)', sources: 'Quellen',
      queued: 'Warten auf den Assistenten…', queuedAt: 'Warten auf den Assistenten… (Position {n})', you: 'Sie',
      assistant: 'Assistent', conversation: 'Unterhaltung', message: 'Nachricht',
      network: 'Der Chat-Dienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.',
      rate_limited: 'Zu viele Nachrichten. Bitte versuchen Sie es in {n} erneut.',
      providers_unavailable: 'Der Assistent ist gerade nicht verfügbar. Bitte versuchen Sie es gleich noch einmal.',
      message_too_long: 'Die Nachricht ist zu lang. Bitte kürzen Sie sie und versuchen Sie es erneut.',
      forbidden: 'Diese Website darf den Chat-Dienst nicht verwenden.',
      invalid_request: 'Die Nachricht konnte nicht gesendet werden. Bitte versuchen Sie es erneut.',
      error: 'Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.',
      rate: 'Antwort bewerten', up: 'Hilfreich', down: 'Nicht hilfreich', comment: 'Was war falsch? (optional)',
      skip: 'Überspringen', conversations: 'Unterhaltungen', del: 'Unterhaltung löschen',
    },
    zh: {
      title: '在线咨询', welcome: '您好！今天有什么可以帮您？', placeholder: '输入消息…', send: '发送',
      stop: '停止', open: '打开聊天', close: '关闭聊天', newChat: '新对话', retry: '重试',
      typing: '助手正在输入', interrupted: '（回答已中断）', shortened: '（回答已缩短）', sources: '来源',
      queued: '正在等待助手…', queuedAt: '正在等待助手…（第 {n} 位）', you: '您', assistant: '助手',
      conversation: '对话', message: '消息',
      network: '无法连接聊天服务。请检查网络后重试。',
      rate_limited: '消息过多，请在{n}后重试。',
      providers_unavailable: '助手暂时不可用，请稍后重试。',
      message_too_long: '消息过长，请缩短后重试。',
      forbidden: '此网站无权使用聊天服务。',
      invalid_request: '消息发送失败，请重试。',
      error: '出了点问题，请重试。',
      rate: '评价此回答', up: '有帮助', down: '没有帮助', comment: '哪里不对？（可选）', skip: '跳过',
      conversations: '对话列表', del: '删除对话',
    },
    ar: {
      title: 'تحدث معنا', welcome: 'مرحبًا! كيف يمكننا مساعدتك اليوم؟', placeholder: 'اكتب رسالتك…',
      send: 'إرسال', stop: 'إيقاف', open: 'فتح المحادثة', close: 'إغلاق المحادثة',
      newChat: 'محادثة جديدة', retry: 'إعادة المحاولة', typing: 'المساعد يكتب',
      interrupted: '(انقطعت الإجابة)', shortened: '(تم اختصار الإجابة)', sources: 'المصادر',
      queued: 'في انتظار المساعد…', queuedAt: 'في انتظار المساعد… (الترتيب {n})',
      you: 'أنت', assistant: 'المساعد', conversation: 'المحادثة',
      message: 'رسالة',
      network: 'تعذّر الوصول إلى خدمة المحادثة. تحقّق من اتصالك وحاول مرة أخرى.',
      rate_limited: 'رسائل كثيرة جدًا. حاول مرة أخرى بعد {n}.',
      providers_unavailable: 'المساعد غير متاح حاليًا. حاول مرة أخرى بعد قليل.',
      message_too_long: 'الرسالة طويلة جدًا. يُرجى اختصارها والمحاولة مرة أخرى.',
      forbidden: 'لا يُسمح لهذا الموقع باستخدام خدمة المحادثة.',
      invalid_request: 'تعذّر إرسال الرسالة. حاول مرة أخرى.',
      error: 'حدث خطأ ما. حاول مرة أخرى.',
      rate: 'قيّم هذه الإجابة', up: 'مفيدة', down: 'غير مفيدة', comment: 'ما الخطأ؟ (اختياري)', skip: 'تخطٍّ',
      conversations: 'المحادثات', del: 'حذف المحادثة',
    },
  };
  const RTL = ['ar', 'he', 'fa', 'ur'];
  const ERRORS = ['network', 'rate_limited', 'providers_unavailable', 'message_too_long', 'forbidden', 'invalid_request'];

  // Dark palette: theme "dark", and "auto" when the system is dark.
  const DARK = '--bg:var(--chatkit-bg,#16181d);--fg:var(--chatkit-fg,#e6e8ec);--mu:var(--chatkit-muted,#a3a9b5);' +
    '--bd:var(--chatkit-border,#2e323b);--ab:var(--chatkit-bubble,#23262e);--a:var(--chatkit-accent,#3563e9);' +
    '--ln:var(--chatkit-link,#8db4ff);--er:#ffb4ab;--eb:#3b1f1d;color-scheme:dark';

  const CSS = `
:host{all:initial;display:block}
:host([data-chatkit=inline]),:host([data-chatkit=fullpage]){height:100%}
*{box-sizing:border-box}
[hidden]{display:none!important}
.ck{--a:var(--chatkit-accent,#1d4ed8);--af:var(--chatkit-accent-fg,#fff);--bg:var(--chatkit-bg,#fff);
--fg:var(--chatkit-fg,#1f2328);--mu:var(--chatkit-muted,#5b6270);--bd:var(--chatkit-border,#d8dce3);
--ab:var(--chatkit-bubble,#f1f3f7);--ln:var(--chatkit-link,var(--a));--er:#a8200d;--eb:#fdecea;
--r:var(--chatkit-radius,16px);--x:var(--chatkit-offset-x,20px);--y:var(--chatkit-offset-y,20px);
--z:var(--chatkit-z-index,2147483000);color-scheme:light;height:100%;
font:15px/1.5 var(--chatkit-font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif);color:var(--fg)}
.ck[data-theme=dark]{${DARK}}
@media (prefers-color-scheme:dark){.ck[data-theme=auto]{${DARK}}}
button{font:inherit;cursor:pointer}
:focus-visible{outline:2px solid var(--ln);outline-offset:2px}
.launcher{position:fixed;bottom:var(--y);right:var(--x);z-index:var(--z);width:var(--chatkit-launcher-size,58px);
height:var(--chatkit-launcher-size,58px);border:0;border-radius:50%;background:var(--a);color:var(--af);
display:grid;place-items:center;box-shadow:0 6px 24px rgba(0,0,0,.24);transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher:focus-visible{outline:3px solid var(--a);outline-offset:3px}
.left .launcher,.left .floating-panel{right:auto;left:var(--x)}
svg{width:22px;height:22px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.launcher svg{width:26px;height:26px}
.panel{display:flex;flex-direction:column;background:var(--bg);color:var(--fg);overflow:hidden;height:100%}
.floating .panel{position:fixed;z-index:var(--z);right:var(--x);bottom:calc(var(--y) + var(--chatkit-launcher-size,58px) + 14px);
width:var(--chatkit-width,380px);max-width:calc(100vw - 2 * var(--x));
height:var(--chatkit-height,620px);max-height:calc(100dvh - var(--y) - var(--chatkit-launcher-size,58px) - 34px);
border:1px solid var(--bd);border-radius:var(--r);box-shadow:0 16px 48px rgba(0,0,0,.22);animation:ck-in .2s ease-out}
.left .panel{right:auto;left:var(--x)}
.inline .panel{min-height:var(--chatkit-height,480px);border:1px solid var(--bd);border-radius:var(--r)}
.fixed .panel{position:fixed;inset:0;z-index:var(--z)}
.fullpage .messages,.fullpage .composer{padding-inline:max(16px,calc(50% - 380px))}
@keyframes ck-in{from{opacity:0;transform:translateY(12px)}}
.header{display:flex;align-items:center;gap:4px;padding:10px 8px;padding-inline-start:18px;background:var(--a);color:var(--af)}
.header h2{flex:1;margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.icon{width:38px;height:38px;border:0;border-radius:10px;background:transparent;color:inherit;display:grid;place-items:center}
.header .icon:hover{background:rgba(255,255,255,.16)}
.header :focus-visible{outline-color:currentColor;outline-offset:-3px}
.messages{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:18px 16px;display:flex;flex-direction:column;gap:10px}
.msg{max-width:86%;padding:9px 14px;border-radius:var(--r);overflow-wrap:anywhere}
.assistant{align-self:flex-start;background:var(--ab);border-end-start-radius:4px}
.user{align-self:flex-end;background:var(--a);color:var(--af);border-end-end-radius:4px;white-space:pre-wrap}
.msg p,.msg ul,.msg ol,.msg pre,.msg blockquote,.table{margin:0 0 .6em}
.body>:last-child{margin-bottom:0}
.msg ul,.msg ol{padding-inline-start:1.3em}
.msg code{font:.87em/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:rgba(127,127,127,.17);padding:.1em .35em;border-radius:5px}
.msg pre{padding:10px 12px;border-radius:10px;background:rgba(127,127,127,.17);overflow-x:auto;direction:ltr;text-align:left}
.msg pre code{padding:0;background:none}
.msg a{color:var(--ln)}
.user a{color:inherit}
.note{display:block;margin-top:4px;font-size:12.5px;color:var(--mu)}
.msg li>p,.msg li>ul,.msg li>ol{margin:0}
.msg blockquote{padding-inline-start:10px;border-inline-start:3px solid var(--bd)}
.table{overflow-x:auto}
.msg table{border-collapse:collapse;font-size:14px;overflow-wrap:normal}
.msg th,.msg td{border:1px solid var(--bd);padding:4px 8px;vertical-align:top}
.msg th:not([align]){text-align:start}
.sources{margin-top:8px;padding-top:6px;border-top:1px solid var(--bd);font-size:13px}
.sources div{color:var(--mu)}
.sources ul{margin:0;padding-inline-start:1.2em}
.typing.queued{padding:9px 14px;font-size:13.5px;color:var(--mu)}
.typing{display:flex;gap:5px;padding:14px 16px}
.typing i{width:7px;height:7px;border-radius:50%;background:var(--mu);animation:ck-dot 1.2s infinite}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes ck-dot{0%,60%,100%{opacity:.35}30%{opacity:1;transform:translateY(-3px)}}
.error{display:flex;align-items:center;gap:12px;padding:10px 12px;border-radius:12px;background:var(--eb);color:var(--er);font-size:14px}
.error span{flex:1}
.error button,.fb form button{border:1px solid currentColor;border-radius:8px;background:transparent;color:inherit;padding:4px 10px;white-space:nowrap}
.error button:disabled{opacity:.6;cursor:default}
.fb{display:flex;flex-wrap:wrap;align-items:center;gap:2px;margin:4px -8px -6px}
.fb .icon{width:32px;height:32px}
.fb svg{width:16px;height:16px}
.fb [value=down] svg{transform:rotate(180deg)}
.fb [aria-pressed=true]{color:var(--ln)}
.fb [aria-pressed=true] svg{fill:currentColor}
.fb form{flex-basis:100%;display:flex;flex-wrap:wrap;gap:6px;padding:4px 8px}
.fb textarea{flex-basis:100%;min-height:60px;font-size:14px}
.fail{flex-basis:100%;padding:0 8px;font-size:13px;color:var(--er)}
.list{flex:1;overflow-y:auto;padding:12px}
.list h3{margin:4px 10px 8px;font-size:15px}
.list ul{margin:0;padding:0;list-style:none}
.list li{display:flex;align-items:center;border-radius:10px}
.list li:hover,.list [aria-current=true]{background:var(--ab)}
.pick{flex:1;min-width:0;display:flex;gap:8px;align-items:center;padding:10px;border:0;border-radius:10px;background:none;color:inherit;text-align:start}
.pick span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.fb .icon,.list .icon,.pick svg{color:var(--mu);flex:none}
.icon:hover,.pick:hover{background:rgba(127,127,127,.17)}
.composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid var(--bd);background:var(--bg)}
textarea{flex:1;min-height:42px;max-height:140px;resize:none;margin:0;padding:9px 13px;border:1px solid var(--bd);
border-radius:12px;background:var(--bg);color:var(--fg);font:inherit;line-height:1.45}
textarea::placeholder{color:var(--mu);opacity:1}
textarea:focus-visible{outline-offset:0;border-color:transparent}
.send{flex:none;width:42px;height:42px;border:0;border-radius:12px;background:var(--a);color:var(--af);display:grid;place-items:center}
.send:disabled{opacity:.45;cursor:default}
.stop{background:var(--fg);color:var(--bg)}
[dir=rtl] .send svg{transform:scaleX(-1)}
.sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:640px){
.floating .panel{inset:var(--vt,0px) 0 auto;width:100%;max-width:none;height:var(--vh,100dvh);max-height:none;border:0;border-radius:0}
.floating.open .launcher{display:none}
textarea{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}`;

  let sheet;
  const adopt = (root) => {
    if (root.adoptedStyleSheets && window.CSSStyleSheet) {
      try {
        sheet = sheet || new CSSStyleSheet();
        if (!sheet.cssRules.length) sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
        return;
      } catch { /* fall back to a <style> element below */ }
    }
    root.append(el('style', {}, CSS));
  };

  const ICONS = {
    chat: 'M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z',
    close: 'M6 6l12 12M18 6L6 18',
    down: 'M6 9l6 6 6-6',
    send: 'M4 12h14M12 5l7 7-7 7',
    stop: 'M7 7h10v10H7z',
    new: 'M12 20h9M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z',
    thumb: 'M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.3a2 2 0 0 0 2-1.7l1.4-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3',
    list: 'M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01',
    trash: 'M3 6h18M19 6l-1 14H6L5 6M9 6V3h6v3',
  };
  const icon = (name) => {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    const path = document.createElementNS(ns, 'path');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    path.setAttribute('d', ICONS[name]);
    svg.append(path);
    return svg;
  };

  // Element builder: attributes only, text only as text nodes, no markup parsing, no style attributes.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (typeof value === 'function') node.addEventListener(key, value);
      else if (value != null && value !== false) node.setAttribute(key, value === true ? '' : value);
    }
    node.append(...children);
    return node;
  }

  const button = (part, label, click, name, attrs) =>
    el('button', { class: 'icon', part, type: 'button', 'aria-label': label, title: label, click, ...attrs }, icon(name));

  // The API returns HTML-escaped text; turn entities back into characters, in one pass.
  const NAMED = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  const decode = (text) => String(text || '').replace(/&(#x[\da-f]+|#\d+|[a-z]+);/gi, (all, name) => {
    if (name[0] !== '#') return NAMED[name.toLowerCase()] ?? all;
    const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
  });

  // Without a base only absolute URLs pass; sources resolve against the page and must be web pages.
  const safeUrl = (href, base, allowed = /^(https?|mailto):$/) => {
    try {
      const url = new URL(href, base);
      return allowed.test(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  };

  // Inline markdown: `code`, **bold**, __bold__, *italic*, _italic_, [label](url), bare http(s) URLs.
  const INLINE = new RegExp([
    '`([^`]+)`',
    '\\*\\*(.+?)\\*\\*|__(.+?)__',
    '(?<![\\w*])\\*(?!\\s)(.+?)(?<!\\s)\\*(?!\\w)|(?<!\\w)_(?!\\s)(.+?)(?<!\\s)_(?!\\w)',
    '\\[([^\\]]+)\\]\\(\\s*(\\S+?)\\s*\\)',
    '(https?://[^\\s<>"]*[^\\s<>".,;:!?)\\]\'])',
  ].join('|'), 'g');

  function inline(text, parent, inLink) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      parent.append(text.slice(last, m.index));
      last = m.index + m[0].length;
      let node;
      if (m[1] != null) {
        node = el('code', {}, m[1]);
      } else if (m[2] || m[3] || m[4] || m[5]) {
        node = el(m[2] || m[3] ? 'strong' : 'em');
        inline(m[2] || m[3] || m[4] || m[5], node, inLink);
      } else {
        const href = inLink ? null : safeUrl(m[7] || m[8], location.href); // a site page may be relative
        node = href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }) : document.createDocumentFragment();
        if (m[6]) inline(m[6], node, true);
        else node.append(m[8]);
      }
      parent.append(node);
    }
    parent.append(text.slice(last));
  }

  const FENCE = /^\s*(```|~~~)/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const QUOTE = /^\s*> ?/;
  const RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
  const indent = (line) => /^\s*/.exec(line)[0].length;
  // Quotes and lists nest; past this depth their markers are shown as text.
  const MAX_DEPTH = 8;

  // Block markdown: paragraphs, fenced code, nested lists, blockquotes, tables, headings as bold lines.
  const markdown = (source) => blocks(source.replace(/\r\n?/g, '\n').replace(/^\t+/gm, (t) => '    '.repeat(t.length))
    .split('\n'), 0);

  function blocks(lines, depth) {
    const out = document.createDocumentFragment();
    const nest = depth < MAX_DEPTH;
    let para = [];
    const flush = () => {
      if (!para.length) return;
      const p = el('p');
      para.forEach((line, i) => {
        if (i) p.append(el('br'));
        inline(line, p);
      });
      out.append(p);
      para = [];
    };
    for (let i = 0; i < lines.length;) {
      const line = lines[i];
      const fence = FENCE.exec(line);
      let m;
      if (fence) {
        flush();
        const code = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
        i++;
        out.append(el('pre', {}, el('code', {}, code.join('\n'))));
      } else if (nest && ITEM.test(line)) {
        flush();
        i = list(lines, i, out, depth);
      } else if (nest && QUOTE.test(line)) {
        flush();
        const quoted = [];
        for (; i < lines.length && QUOTE.test(lines[i]); i++) quoted.push(lines[i].replace(QUOTE, ''));
        out.append(el('blockquote', {}, blocks(quoted, depth + 1)));
      } else if (line.includes('|') && RULE.test(lines[i + 1] || '') && lines[i + 1].includes('|')) {
        flush();
        i = table(lines, i, out);
      } else if ((m = /^#{1,6}\s+(.*)$/.exec(line))) {
        flush();
        const strong = el('strong');
        inline(m[1], strong);
        out.append(el('p', {}, strong));
        i++;
      } else {
        if (line.trim()) para.push(line);
        else flush();
        i++;
      }
    }
    flush();
    return out;
  }

  // One list: items at the first item's indentation and of its kind. Lines indented deeper
  // belong to the item above them and are rendered as blocks inside it (nested lists, code).
  function list(lines, i, out, depth) {
    let m = ITEM.exec(lines[i]);
    const level = m[1].length;
    const ordered = /\d/.test(m[2]);
    const n = parseInt(m[2], 10);
    const node = el(ordered ? 'ol' : 'ul', { start: ordered && n !== 1 ? n : null });
    for (;;) {
      i++;
      const li = el('li');
      inline(m[3], li);
      const inner = [];
      for (let j = i; j < lines.length; j++) {
        if (!lines[j].trim()) continue;
        if (indent(lines[j]) <= level) break;
        inner.push(...lines.slice(i, j + 1));
        i = j + 1;
      }
      const cut = inner.reduce((min, l) => (l.trim() ? Math.min(min, indent(l)) : min), Infinity);
      if (inner.length) li.append(blocks(inner.map((l) => l.slice(cut)), depth + 1));
      node.append(li);
      // Blank lines between two items of the same list keep it one list.
      let j = i;
      while (j < lines.length && !lines[j].trim()) j++;
      m = ITEM.exec(lines[j] || '');
      if (!m || m[1].length !== level || /\d/.test(m[2]) !== ordered) break;
      i = j;
    }
    out.append(node);
    return i;
  }

  // Table cells: split on pipes that are not escaped, without the row's outer pipes.
  const cells = (line) => line.trim().replace(/^\|/, '').replace(/(^|[^\\])\|$/, '$1').split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replace(/\\\|/g, '|'));

  // A GFM pipe table: header, alignment row, then rows up to a line without a pipe or a quote or list.
  function table(lines, i, out) {
    const head = cells(lines[i]);
    const align = cells(lines[i + 1]).map((c) => (c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right')
      : c.startsWith(':') ? 'left' : null));
    const row = (values, tag) => el('tr', {}, ...head.map((_, k) => {
      const cell = el(tag, { align: align[k] });
      inline(values[k] || '', cell);
      return cell;
    }));
    const body = el('tbody');
    for (i += 2; /\|/.test(lines[i]) && !QUOTE.test(lines[i]) && !ITEM.test(lines[i]); i++) {
      body.append(row(cells(lines[i]), 'td'));
    }
    out.append(el('div', { class: 'table', tabindex: '0' }, el('table', {}, el('thead', {}, row(head, 'th')), body)));
    return i;
  }

  // Server-Sent Events from a fetch body: yields {event, data} for each dispatched event.
  async function* readEvents(body) {
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

  class ApiError extends Error {
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

  const path = (sid) => '/api/session/' + encodeURIComponent(sid);

  const store = {
    get: (key) => { try { return localStorage.getItem(key); } catch { return null; } },
    // No value removes the key.
    set: (key, value) => { try { value ? localStorage.setItem(key, value) : localStorage.removeItem(key); } catch { /* storage disabled */ } },
  };

  const instances = [];

  class Widget {
    constructor(options = {}) {
      this.o = options;
      this.endpoint = String(options.endpoint || '').replace(/\/+$/, '');
      this.target = typeof options.target === 'string' ? document.querySelector(options.target) : options.target;
      if (options.target && !this.target) console.warn('ChatKit: no element matches target', options.target);
      this.mode = options.mode === 'fullpage' ? 'fullpage' : this.target ? 'inline' : 'floating';
      // One conversation per endpoint, and per target element for widgets placed in the page.
      const place = options.target && (typeof options.target === 'string' ? options.target : '#' + options.target.id);
      const id = options.storageKey || new URL(this.endpoint || '/', location.href).href + (place ? ' ' + place : '');
      this.key = options.storageKey || 'chatkit:session:' + id;
      // The visitor's recent conversations, unless the site wants a single thread.
      this.convs = ![false, 'false'].includes(options.conversations);
      this.listKey = 'chatkit:conversations:' + id;
      const tag = String(options.locale || navigator.language || 'en').replace(/_/g, '-');
      const lang = tag.toLowerCase().split('-')[0];
      // Sent with each message so answers come in the visitor's language; a malformed tag is not sent.
      this.locale = tag.length <= 16 && /^[a-z]{2,3}(-[a-z\d]{1,8})*$/i.test(tag) ? tag : undefined;
      this.t = { ...STRINGS.en, ...STRINGS[lang], ...options.strings };
      this.listeners = {};
      this.isOpen = this.mode !== 'floating';
      this.sid = store.get(this.key);
      this.build(lang);
      instances.push(this);
      this.restoring = this.restore();
    }

    build(lang) {
      const { t, o, mode } = this;
      const floating = mode === 'floating';
      const target = this.target;
      this.host = el('div', { class: 'chatkit-host', 'data-chatkit': mode });
      (target || document.body).append(this.host);
      const root = this.host.attachShadow({ mode: 'open' });
      adopt(root);
      this.shadow = root;

      const title = o.title || t.title;
      const classes = ['ck', mode, o.position === 'bottom-left' ? 'left' : '',
        mode === 'fullpage' && !target ? 'fixed' : ''];
      this.root = el('div', {
        class: classes.join(' ').trim(), 'data-theme': ['dark', 'auto'].includes(o.theme) ? o.theme : 'light',
        dir: RTL.includes(lang) ? 'rtl' : 'ltr', lang,
      });
      const panelId = 'ck-panel';
      this.launcher = floating ? el('button', {
        class: 'launcher', part: 'launcher', type: 'button', 'aria-label': t.open, 'aria-expanded': 'false',
        'aria-controls': panelId, click: () => this.toggle(),
      }, icon('chat')) : null;

      this.messages = el('div', {
        class: 'messages', part: 'messages', role: 'log', 'aria-live': 'off', 'aria-label': t.conversation, tabindex: '0',
      });
      this.live = el('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
      this.input = el('textarea', {
        part: 'input', rows: '1', dir: 'auto', placeholder: t.placeholder, 'aria-label': t.message,
        keydown: (e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            this.submit();
          }
        },
        input: () => this.fitInput(),
      });
      this.sendBtn = button('send', t.send, null, 'send', { class: 'send' });
      this.sendBtn.type = 'submit';
      this.stopBtn = button('stop', t.stop, () => this.stop(), 'stop', { class: 'send stop' });
      this.stopBtn.hidden = true;
      const form = el('form', { class: 'composer', part: 'composer', submit: (e) => { e.preventDefault(); this.submit(); } },
        this.input, this.sendBtn, this.stopBtn);

      this.form = form;
      const header = el('div', { class: 'header', part: 'header' }, el('h2', { part: 'title' }, title),
        button('new-chat', t.newChat, () => this.clear(this.convs), 'new'));
      this.list = el('div', { class: 'list', part: 'conversation-list', id: 'ck-list', hidden: true,
        keydown: (e) => e.key === 'Escape' && this.showList(false, e) });
      if (this.convs) {
        header.append(this.listBtn = button('conversations', t.conversations, () => this.showList(this.list.hidden), 'list',
          { 'aria-expanded': 'false', 'aria-controls': 'ck-list' }));
      }
      if (floating) header.append(button('close', t.close, () => this.close(), 'down'));
      this.panel = el('div', {
        class: 'panel', part: 'panel', id: panelId, role: floating ? 'dialog' : 'region',
        'aria-modal': floating ? 'true' : null, 'aria-label': title, hidden: floating, keydown: (e) => this.onKey(e),
      }, header, this.messages, this.list, form, this.live);
      this.root.append(...[this.launcher, this.panel].filter(Boolean));
      root.append(this.root);

      // Keep the full-screen chat above the on-screen keyboard on phones.
      const vv = window.visualViewport;
      if (vv) {
        this.fit = () => {
          this.panel.style.setProperty('--vh', vv.height + 'px');
          this.panel.style.setProperty('--vt', vv.offsetTop + 'px');
        };
        vv.addEventListener('resize', this.fit);
        vv.addEventListener('scroll', this.fit);
        this.fit();
      }
    }

    on(event, fn) {
      (this.listeners[event] ||= new Set()).add(fn);
      // A listener added after start-up still hears "ready".
      if (event === 'ready' && this.ready) queueMicrotask(() => this.listeners.ready?.has(fn) && fn());
      return this;
    }

    off(event, fn) {
      this.listeners[event]?.delete(fn);
      return this;
    }

    emit(event, detail) {
      for (const fn of this.listeners[event] || []) {
        try {
          fn(detail);
        } catch (err) {
          console.error(err);
        }
      }
    }

    open() {
      if (this.mode === 'floating' && !this.isOpen) {
        const active = document.activeElement;
        this.returnTo = active === this.host || active === document.body ? null : active;
        this.show(true);
        this.emit('open');
      }
      this.input.focus();
      this.scroll();
    }

    close() {
      if (this.mode !== 'floating' || !this.isOpen) return;
      this.showList(false);
      this.show(false);
      const back = this.returnTo && this.returnTo.isConnected ? this.returnTo : this.launcher;
      back.focus();
      if (this.shadow.activeElement !== back && document.activeElement !== back) this.launcher.focus();
      this.emit('close');
    }

    show(open) {
      this.isOpen = open;
      this.panel.hidden = !open;
      this.root.classList.toggle('open', open);
      this.launcher.setAttribute('aria-expanded', open);
      this.launcher.setAttribute('aria-label', this.t[open ? 'close' : 'open']);
      this.launcher.replaceChildren(icon(open ? 'close' : 'chat'));
    }

    toggle() {
      if (this.isOpen && this.mode === 'floating') this.close();
      else this.open();
    }

    onKey(e) {
      if (this.mode !== 'floating') return;
      if (e.key === 'Escape') {
        e.preventDefault();
        this.close();
      } else if (e.key === 'Tab') {
        // aria-modal dialog: keep Tab inside the panel.
        const items = [...this.panel.querySelectorAll('button,textarea,a[href],[tabindex="0"]')]
          .filter((node) => !node.disabled && node.getClientRects().length);
        const first = items[0];
        const last = items[items.length - 1];
        const active = this.shadow.activeElement;
        if (e.shiftKey ? active === first : active === last) {
          e.preventDefault();
          (e.shiftKey ? last : first).focus();
        }
      }
    }

    fitInput() {
      this.input.style.height = 'auto';
      this.input.style.height = Math.min(this.input.scrollHeight + 2, 140) + 'px';
    }

    scroll() {
      this.messages.scrollTop = this.messages.scrollHeight;
    }

    api(path, init = {}) {
      const headers = { ...init.headers };
      if (init.body) headers['Content-Type'] = 'application/json';
      if (this.o.siteKey) headers['X-ChatKit-Site-Key'] = this.o.siteKey;
      return fetch(this.endpoint + path, { ...init, headers, credentials: 'omit' });
    }

    // A JSON API call; throws the API's error.
    async json(path, init) {
      const res = await this.api(path, init);
      if (!res.ok) throw await apiError(res);
      return res.status === 204 ? null : res.json();
    }

    // The conversation is gone on the server.
    lost(sid) {
      this.untrack(sid);
      if (sid === this.sid) store.set(this.key, (this.sid = null));
    }

    async session(signal) {
      if (this.sid) return this.sid;
      this.sid = (await this.json('/api/create-session', { method: 'POST', body: '{}', signal })).sessionId;
      store.set(this.key, this.sid);
      return this.sid;
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
      if (this.convs) store.set(this.listKey, JSON.stringify(list.slice(0, 10)));
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

    welcome() {
      const text = this.o.welcomeMessage ?? this.t.welcome;
      this.messages.replaceChildren();
      if (text) this.bubble('assistant', text, true);
    }

    async restore() {
      this.welcome();
      const sid = this.sid;
      if (sid) {
        try {
          const { messages } = await this.json(path(sid) + '/messages');
          for (const m of messages) this.bubble(m.role, m.content, false, m);
          this.track(sid, decode(messages.find((m) => m.role === 'user')?.content));
          this.scroll();
        } catch (err) {
          // Offline: the next message shows the error.
          if (err.code === 'session_not_found') this.lost(sid);
        }
      }
      await null;
      if (!this.ready) {
        this.ready = true;
        this.emit('ready');
      }
    }

    // Adds a message bubble. Assistant text is markdown from the API (HTML-escaped); user text is plain.
    bubble(role, content, local, message) {
      const body = el('div', { class: 'body', dir: 'auto' });
      const who = el('span', { class: 'sr' }, (role === 'user' ? this.t.you : this.t.assistant) + ': ');
      const node = el('div', { class: `msg ${role}`, part: `message ${role}` }, who, body);
      node.body = body;
      this.render(node, content, local);
      if (message) this.finish(node, message);
      this.messages.append(node);
      return node;
    }

    render(node, content, local) {
      const text = local ? content : decode(content);
      if (node.classList.contains('user')) node.body.textContent = text;
      else node.body.replaceChildren(markdown(text));
    }

    // What the API says about a finished answer: cut short, and the site's pages it drew on.
    finish(node, message) {
      if (message.incomplete) this.note(node, 'interrupted');
      if (message.truncated) this.note(node, 'shortened');
      const links = (Array.isArray(message.sources) ? message.sources : []).map((source) => {
        const { title: raw, url } = Object(source);
        const link = typeof url === 'string' && url;
        const title = decode(raw) || link;
        const href = link && safeUrl(link, location.href, /^https?:$/);
        return title && el('li', {}, href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, title) : title);
      }).filter(Boolean);
      if (links.length) {
        node.append(el('div', { class: 'sources', part: 'sources' }, el('div', {}, this.t.sources), el('ul', {}, ...links)));
      }
      if (message.role === 'assistant' && message.id) this.feedback(node, message.id, message.feedback?.rating);
    }

    // Thumbs up and down; after thumbs down, an optional comment.
    feedback(node, id, rated) {
      const { t } = this;
      const url = `${path(this.sid)}/messages/${encodeURIComponent(id)}/feedback`;
      const fail = el('span', { class: 'fail', role: 'alert' });
      const bar = el('div', { class: 'fb', part: 'feedback', role: 'group', 'aria-label': t.rate });
      let form;
      const close = (focus) => {
        form?.remove();
        if (focus) down.focus();
      };
      const send = async (rating, comment) => {
        fail.remove();
        try {
          rated = (await this.json(url, { method: 'POST', body: JSON.stringify({ rating, comment }) })).feedback?.rating;
          for (const b of [up, down]) b.setAttribute('aria-pressed', b.value === rated);
          this.emit('feedback', { messageId: id, rating, comment: comment || '' });
          return true;
        } catch (err) {
          bar.append(fail);
          fail.textContent = this.explain(err);
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
        input.focus();
      };
      const [up, down] = ['up', 'down'].map((rating) => button('rate ' + rating, t[rating], async () => {
        close();
        // A new rating replaces the old one; thumbs down (again) opens the comment box.
        if ((rated === rating || await send(rating)) && rating === 'down') comment();
      }, 'thumb', { value: rating, 'aria-pressed': String(rated === rating) }));
      bar.append(up, down);
      node.append(bar);
    }

    note(node, key) {
      if (!node.querySelector('.' + key)) node.append(el('span', { class: 'note ' + key }, this.t[key]));
    }

    // The typing indicator, or while the server queues the answer, the wait and its place in line.
    waiting(typing, position) {
      const text = position ? this.t[position > 1 ? 'queuedAt' : 'queued'].replace('{n}', position) : '';
      // Announced once, when the wait begins.
      if (text && !typing.classList.contains('queued')) this.live.textContent = text;
      typing.classList.toggle('queued', !!text);
      typing.setAttribute('aria-label', text || this.t.typing);
      typing.replaceChildren(...(text ? [text] : [el('i'), el('i'), el('i')]));
    }

    submit() {
      const text = this.input.value.trim();
      if (!text || this.busy) return;
      this.input.value = '';
      this.fitInput();
      this.ask(text);
    }

    sendMessage(text) {
      return this.ask(String(text).trim());
    }

    setBusy(busy) {
      const hadFocus = this.shadow.activeElement;
      this.busy = busy;
      this.sendBtn.hidden = busy;
      this.stopBtn.hidden = !busy;
      if (hadFocus === (busy ? this.sendBtn : this.stopBtn)) (busy ? this.stopBtn : this.input).focus();
    }

    async ask(text, isRetry) {
      // The restored history goes first, so a message sent during start-up waits for it.
      await this.restoring;
      if (!text || this.busy) return;
      this.error?.remove();
      if (!isRetry) {
        this.bubble('user', text, true);
        this.emit('message', { role: 'user', content: text });
      }
      this.setBusy(true);
      const ctrl = (this.ctrl = new AbortController());
      const typing = el('div', { class: 'msg assistant typing', part: 'typing', role: 'img' });
      this.waiting(typing);
      this.messages.append(typing);
      this.scroll();
      let node = null;
      let raw = '';
      try {
        const res = await this.chat(text, ctrl.signal);
        let ended = false;
        for await (const { event, data } of readEvents(res.body)) {
          const payload = JSON.parse(data);
          // Follow the answer unless the visitor has scrolled up to read.
          const follow = this.messages.scrollHeight - this.messages.scrollTop - this.messages.clientHeight < 60;
          if (event === 'queued' || event === 'start') {
            this.waiting(typing, event === 'queued' && Math.max(1, Math.floor(payload.position) || 1));
          } else if (event === 'delta') {
            typing.remove();
            node ||= this.bubble('assistant', '');
            raw += payload.text;
            this.render(node, raw);
            this.emit('delta', payload);
          } else if (event === 'done') {
            ended = true;
            const message = payload.message;
            typing.remove();
            node ||= this.bubble('assistant', '');
            this.render(node, message.content);
            this.finish(node, message);
            this.live.textContent = node.body.textContent;
            this.emit('message', message);
          } else if (event === 'error') {
            throw new ApiError(payload.error?.code || 'error', payload.error?.message);
          }
          if (follow) this.scroll();
          if (ended) break;
        }
        if (!ended) throw new ApiError('network');
      } catch (err) {
        if (node) this.note(node, 'interrupted');
        if (!ctrl.signal.aborted) this.fail(err, text);
      } finally {
        typing.remove();
        if (this.ctrl === ctrl) this.ctrl = null;
        this.setBusy(false);
      }
    }

    async chat(text, signal) {
      for (let attempt = 0; ; attempt++) {
        const sessionId = await this.session(signal);
        const res = await this.api('/api/chat', {
          method: 'POST', signal, headers: { Accept: 'text/event-stream' },
          body: JSON.stringify({ sessionId, message: text, stream: true, locale: this.locale }),
        });
        if (res.ok) {
          this.track(sessionId, text, true);
          return res;
        }
        const err = await apiError(res);
        // An expired session starts a new one silently, once.
        if (err.code !== 'session_not_found' || attempt) throw err;
        this.lost(sessionId);
      }
    }

    // An error in the visitor's words.
    explain(err) {
      const code = err instanceof ApiError ? err.code : 'network';
      const key = code === 'body_too_large' ? 'message_too_long' : code;
      return this.t[ERRORS.includes(key) ? key : 'error'].replace('{n}', this.seconds(Math.ceil(err.retryAfter || 0) || 30));
    }

    fail(err, text) {
      const code = err instanceof ApiError ? err.code : 'network';
      const wait = Math.ceil(err.retryAfter || 0);
      const message = this.explain(err);
      const retry = el('button', { type: 'button', part: 'retry', click: () => this.ask(text, true) }, this.t.retry);
      if (code === 'rate_limited' && wait) {
        retry.disabled = true;
        setTimeout(() => { retry.disabled = false; }, wait * 1000);
      }
      this.error = el('div', { class: 'error', part: 'error', role: 'alert' }, el('span', {}, message), retry);
      this.messages.append(this.error);
      this.scroll();
      this.emit('error', { code, message: err.message, text: message });
    }

    seconds(n) {
      try {
        return new Intl.NumberFormat(this.root.lang, { style: 'unit', unit: 'second', unitDisplay: 'long' }).format(n);
      } catch {
        return n + ' s';
      }
    }

    stop() {
      this.ctrl?.abort();
    }

    // A new conversation; the old one is erased unless `keep`.
    async clear(keep) {
      await this.restoring;
      const sid = this.sid;
      this.reset();
      if (sid && !keep) {
        this.untrack(sid);
        await this.erase(sid).catch(() => {});
      }
    }

    // Shows conversation `sid`, or a new one; `stay` keeps the list open.
    reset(sid = null, stay) {
      this.stop();
      this.sid = sid;
      store.set(this.key, sid);
      this.error = null;
      if (!stay) {
        this.showList(false);
        this.input.focus();
      }
      return (this.restoring = this.restore());
    }

    // Erases a conversation on the server (already gone is fine).
    async erase(sid) {
      await this.json(path(sid), { method: 'DELETE' }).catch((err) => {
        if (err.code !== 'session_not_found') throw err;
      });
      this.untrack(sid);
    }

    // The conversations view (new, switch, delete) takes the place of the messages and composer.
    showList(show, e) {
      if (!this.convs || show === !this.list.hidden) return;
      e?.stopPropagation();
      this.list.hidden = !show;
      this.messages.hidden = this.form.hidden = show;
      this.listBtn.setAttribute('aria-expanded', show);
      if (show) this.fillList();
      else (e ? this.listBtn : this.input).focus();
    }

    fillList(fail) {
      const { t } = this;
      const item = (c) => {
        const title = (typeof c.title === 'string' && c.title) || t.newChat;
        return el('li', {}, el('button', {
          class: 'pick', type: 'button', 'aria-current': c.id === this.sid ? 'true' : null,
          click: () => c.id === this.sid ? this.showList(false) : this.reset(c.id),
        }, el('span', { dir: 'auto' }, title)), button(null, `${t.del}: ${title}`, async () => {
          try {
            await this.erase(c.id);
            if (c.id === this.sid) this.reset(null, true);
            this.fillList();
          } catch (err) {
            this.fillList(err);
          }
        }, 'trash'));
      };
      this.list.replaceChildren(el('h3', {}, t.conversations),
        el('button', { class: 'pick', type: 'button', click: () => this.clear(true) }, icon('new'), el('span', {}, t.newChat)),
        el('ul', {}, ...this.saved().map(item)), fail ? el('p', { class: 'fail', role: 'alert' }, this.explain(fail)) : '');
      (this.list.querySelector('[aria-current]') || this.list.querySelector('button')).focus();
    }

    destroy() {
      this.stop();
      const vv = window.visualViewport;
      if (vv && this.fit) {
        vv.removeEventListener('resize', this.fit);
        vv.removeEventListener('scroll', this.fit);
      }
      this.host.remove();
      instances.splice(instances.indexOf(this), 1);
      this.listeners = {};
    }
  }

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
})();
