import { el } from './dom.js';

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
.error button,.fb form button,.handoff button{border:1px solid currentColor;border-radius:8px;background:transparent;color:inherit;padding:4px 10px;white-space:nowrap}
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
.handoff{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;padding:8px 12px;border-top:1px solid var(--bd);font-size:13.5px}
.handoff span{flex:1}
.handoff button{color:var(--fg)}
.listing .handoff{display:none}
.operator{align-self:flex-start;border:1px solid var(--a);border-end-start-radius:4px;white-space:pre-wrap}
.who{font-size:12.5px;font-weight:600;color:var(--mu)}
.flip{display:block;margin-top:4px;padding:0;border:0;background:none;color:var(--ln);font-size:12.5px;text-decoration:underline}
.list{flex:1;overflow-y:auto;padding:12px}
.list h3{margin:4px 10px 8px;font-size:15px}
.list ul{margin:0;padding:0;list-style:none}
.list li{display:flex;align-items:center;border-radius:10px}
.list li:hover,.list [aria-current=true]{background:var(--ab)}
.pick{flex:1;min-width:0;display:flex;gap:8px;align-items:center;padding:10px;border:0;border-radius:10px;background:none;color:inherit;text-align:start}
.pick span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.fb .icon,.list .icon,.pick svg{color:var(--mu);flex:none}
.icon:hover,.pick:hover{background:rgba(127,127,127,.17)}
.composer{display:flex;flex-wrap:wrap;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid var(--bd);background:var(--bg)}
textarea{flex:1;min-height:42px;max-height:140px;resize:none;margin:0;padding:9px 13px;border:1px solid var(--bd);
border-radius:12px;background:var(--bg);color:var(--fg);font:inherit;line-height:1.45}
textarea::placeholder{color:var(--mu);opacity:1}
textarea:focus-visible{outline-offset:0;border-color:transparent}
.send{flex:none;width:42px;height:42px;border:0;border-radius:12px;background:var(--a);color:var(--af);display:grid;place-items:center}
.send:disabled{opacity:.45;cursor:default}
.stop{background:var(--fg);color:var(--bg)}
[dir=rtl] .send svg{transform:scaleX(-1)}
.composer>.icon{flex:none;height:42px;color:var(--mu)}
.composer [aria-pressed=true]{color:var(--er)}
.tray{flex-basis:100%;display:flex;flex-wrap:wrap;gap:6px}
.tray:not(:has(.file,.fail:not(:empty))){display:none}
.tray .fail{padding:0}
.file{display:flex;align-items:center;gap:6px;max-width:100%;padding:3px 3px 3px 8px;border:1px solid var(--bd);border-radius:10px;font-size:13px}
.file[aria-busy]{opacity:.6}
.file span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.file img{width:32px;height:32px;object-fit:cover;border-radius:6px}
.file .icon{width:26px;height:26px}.file svg{width:14px;height:14px}
.files{margin:6px 0 0;padding:0;list-style:none;font-size:13px;font-style:italic;opacity:.9}
.acts{display:flex;align-items:center;margin:4px -8px -6px}
.acts .fb{flex:1;margin:0}
.acts>.icon{width:32px;height:32px;color:var(--mu)}.acts>.icon svg{width:16px;height:16px}
.acts [aria-pressed=true]{color:var(--ln)}
.sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:640px){
.floating .panel{inset:var(--vt,0px) 0 auto;width:100%;max-width:none;height:var(--vh,100dvh);max-height:none;border:0;border-radius:0}
.floating.open .launcher{display:none}
textarea{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}`;
let sheet;

// One constructed stylesheet shared by every widget's shadow root: CSP's style-src does not
// apply to it. Browsers without constructable stylesheets get a <style> element.
export function adopt(root) {
  if (root.adoptedStyleSheets && window.CSSStyleSheet) {
    try {
      sheet = sheet || new CSSStyleSheet();
      if (!sheet.cssRules.length) sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
      return;
    } catch { /* fall back to a <style> element below */ }
  }
  root.append(el('style', {}, CSS));
}
