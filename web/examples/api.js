// Starts a widget from code and reacts to its events.
const chat = ChatKit.init({ endpoint: "", title: "Order help", locale: "en" });
const log = document.querySelector("#event-log");

for (const name of ["ready", "open", "close", "message", "error"]) {
  chat.on(name, (detail) => {
    const item = document.createElement("li");
    item.textContent = detail && detail.role ? `${name}: ${detail.role}` : name;
    log.append(item);
  });
}

document.querySelector("#ask-hours").addEventListener("click", () => {
  chat.open();
  chat.sendMessage("When are you open on Sunday?");
});
document.querySelector("#toggle-chat").addEventListener("click", () => chat.toggle());
