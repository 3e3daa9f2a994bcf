// Interface texts in six languages; a site replaces any of them with the `strings` option.
export const STRINGS = {
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
    attach: 'Attach a file', remove: 'Remove', speak: 'Speak your message', read: 'Read aloud',
    readAll: 'Read answers aloud',
    unsupported_media_type: 'This kind of file cannot be sent. Please send an image (PNG, JPEG, WebP), a PDF or a text file.',
    unreadable_file: 'That file could not be read. Please try another one.',
    too_many_attachments: 'Too many files. Please remove some and try again.',
    tooBig: 'That file is too large. Please send one under {n}.',
    unused: '(images not used: this assistant reads text only)', partly: '(only the start of a long document was read)',
    talk: 'Talk to a person', asked: "We've asked a person to join…", joined: '{name} has joined',
    back: "You're chatting with the assistant again", person: 'Team member', original: 'Show original',
    translated: 'Show translation', untranslated: '(not translated)',
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
    attach: 'Adjuntar un archivo', remove: 'Quitar', speak: 'Dictar tu mensaje', read: 'Leer en voz alta',
    readAll: 'Leer las respuestas en voz alta',
    unsupported_media_type: 'Este tipo de archivo no se puede enviar. Envía una imagen (PNG, JPEG, WebP), un PDF o un archivo de texto.',
    unreadable_file: 'No se pudo leer el archivo. Prueba con otro.',
    too_many_attachments: 'Demasiados archivos. Quita alguno e inténtalo de nuevo.',
    tooBig: 'El archivo es demasiado grande. Envía uno de menos de {n}.',
    unused: '(imágenes no usadas: este asistente solo lee texto)', partly: '(solo se leyó el principio de un documento largo)',
    talk: 'Hablar con una persona', asked: 'Hemos pedido a una persona que se una…', joined: '{name} se ha unido',
    back: 'Vuelves a hablar con el asistente', person: 'Miembro del equipo', original: 'Ver original',
    translated: 'Ver traducción', untranslated: '(sin traducir)',
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
    attach: 'Joindre un fichier', remove: 'Retirer', speak: 'Dicter votre message', read: 'Lire à voix haute',
    readAll: 'Lire les réponses à voix haute',
    unsupported_media_type: 'Ce type de fichier ne peut pas être envoyé. Envoyez une image (PNG, JPEG, WebP), un PDF ou un fichier texte.',
    unreadable_file: 'Ce fichier n’a pas pu être lu. Essayez-en un autre.',
    too_many_attachments: 'Trop de fichiers. Retirez-en et réessayez.',
    tooBig: 'Ce fichier est trop volumineux. Envoyez-en un de moins de {n}.',
    unused: '(images non utilisées : cet assistant ne lit que du texte)', partly: '(seul le début d’un long document a été lu)',
    talk: 'Parler à une personne', asked: 'Nous avons demandé à une personne de vous rejoindre…',
    joined: '{name} a rejoint la conversation', back: 'Vous discutez de nouveau avec l’assistant',
    person: 'Membre de l’équipe', original: 'Voir l’original', translated: 'Voir la traduction',
    untranslated: '(non traduit)',
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
    attach: 'Datei anhängen', remove: 'Entfernen', speak: 'Nachricht sprechen', read: 'Vorlesen',
    readAll: 'Antworten vorlesen',
    unsupported_media_type: 'Diese Dateiart kann nicht gesendet werden. Bitte senden Sie ein Bild (PNG, JPEG, WebP), ein PDF oder eine Textdatei.',
    unreadable_file: 'Die Datei konnte nicht gelesen werden. Bitte versuchen Sie eine andere.',
    too_many_attachments: 'Zu viele Dateien. Bitte entfernen Sie einige und versuchen Sie es erneut.',
    tooBig: 'Die Datei ist zu groß. Bitte senden Sie eine unter {n}.',
    unused: '(Bilder nicht verwendet: dieser Assistent liest nur Text)', partly: '(nur der Anfang eines langen Dokuments wurde gelesen)',
    talk: 'Mit einer Person sprechen', asked: 'Wir haben eine Person gebeten, dazuzukommen…',
    joined: '{name} ist dazugekommen', back: 'Sie schreiben wieder mit dem Assistenten', person: 'Teammitglied',
    original: 'Original anzeigen', translated: 'Übersetzung anzeigen', untranslated: '(nicht übersetzt)',
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
    attach: '添加附件', remove: '移除', speak: '语音输入消息', read: '朗读', readAll: '朗读所有回答',
    unsupported_media_type: '无法发送此类文件。请发送图片（PNG、JPEG、WebP）、PDF 或文本文件。',
    unreadable_file: '无法读取该文件，请换一个文件。', too_many_attachments: '文件过多，请移除一些后重试。',
    tooBig: '文件过大，请发送小于 {n} 的文件。',
    unused: '（未使用图片：此助手只能读取文字）', partly: '（只读取了长文档的开头部分）',
    talk: '联系人工客服', asked: '已请人工客服加入…', joined: '{name} 已加入', back: '您正在重新与助手对话',
    person: '客服', original: '查看原文', translated: '查看译文', untranslated: '（未翻译）',
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
    attach: 'إرفاق ملف', remove: 'إزالة', speak: 'تحدّث لكتابة رسالتك', read: 'القراءة بصوت عالٍ',
    readAll: 'قراءة الإجابات بصوت عالٍ',
    unsupported_media_type: 'لا يمكن إرسال هذا النوع من الملفات. أرسل صورة (PNG أو JPEG أو WebP) أو ملف PDF أو ملفًا نصيًا.',
    unreadable_file: 'تعذّرت قراءة الملف. جرّب ملفًا آخر.', too_many_attachments: 'ملفات كثيرة جدًا. أزل بعضها وحاول مرة أخرى.',
    tooBig: 'الملف كبير جدًا. أرسل ملفًا أصغر من {n}.',
    unused: '(لم تُستخدم الصور: هذا المساعد يقرأ النص فقط)', partly: '(قُرئت بداية المستند الطويل فقط)',
    talk: 'التحدث إلى شخص', asked: 'طلبنا من أحد أعضاء الفريق الانضمام…', joined: 'انضم {name}',
    back: 'أنت تتحدث مع المساعد مرة أخرى', person: 'أحد أعضاء الفريق', original: 'عرض النص الأصلي',
    translated: 'عرض الترجمة', untranslated: '(بدون ترجمة)',
  },
};
// Languages written right to left.
const RTL = ['ar', 'he', 'fa', 'ur'];
// Error codes with a text of their own; any other gets the generic one.
const ERRORS = ['network', 'rate_limited', 'providers_unavailable', 'message_too_long', 'forbidden', 'invalid_request',
  'unsupported_media_type', 'unreadable_file', 'too_many_attachments'];

// The widget's language, from the `locale` option or the browser's: the interface's texts and
// direction, and the tag sent with each message so answers come in the visitor's language.
export function language(options) {
  const tag = String(options.locale || navigator.language || 'en').replace(/_/g, '-');
  const lang = tag.toLowerCase().split('-')[0];
  return {
    lang,
    dir: RTL.includes(lang) ? 'rtl' : 'ltr',
    // A malformed tag is not sent.
    locale: tag.length <= 16 && /^[a-z]{2,3}(-[a-z\d]{1,8})*$/i.test(tag) ? tag : undefined,
    t: { ...STRINGS.en, ...STRINGS[lang], ...options.strings },
  };
}

// An amount in the widget's language: a wait ("30 seconds"), a size ("10 MB").
function amount(lang, n, unit, unitDisplay) {
  try {
    return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay, maximumFractionDigits: 1 }).format(n);
  } catch {
    return n + ' ' + unit;
  }
}

export const size = (lang, bytes) =>
  bytes < 1048576 ? amount(lang, bytes / 1024, 'kilobyte') : amount(lang, bytes / 1048576, 'megabyte');

// An error code in the visitor's words; `wait` is the rate limit's, in seconds.
export function explain(t, lang, code, wait) {
  const key = code === 'body_too_large' ? 'message_too_long' : code;
  return t[ERRORS.includes(key) ? key : 'error'].replace('{n}', amount(lang, Math.ceil(wait || 0) || 30, 'second', 'long'));
}
