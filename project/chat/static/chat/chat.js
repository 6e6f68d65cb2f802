// The chat page: Django renders the room's latest messages; this script keeps the list live over the WebSocket.
//
// Messages are rendered by id, so one that arrives twice (a broadcast and then a history reply after a reconnect)
// is shown once. After every open the page asks for the room's history, which fills any gap a reconnect left.
import { WebSocketClient } from "ws-client";

const config = JSON.parse(document.getElementById("websocket-config").textContent);
const section = document.querySelector(".chat");
const roomName = document.getElementById("chat-room");
const status = document.getElementById("chat-status");
const list = document.getElementById("chat-messages");
const chatForm = document.getElementById("chat-form");
const chatInput = document.getElementById("chat-input");
const roomForm = document.getElementById("room-form");
const roomInput = document.getElementById("room-input");
const roomUrlPrefix = section.dataset.roomUrlPrefix;
const roomPattern = compilePattern(roomInput.dataset.pattern);
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

const client = new WebSocketClient(config);
window.chatClient = client;

client.addEventListener("state", (event) => showState(event.detail));
client.addEventListener("open", () => client.send({ action: "history" }));
client.addEventListener("unauthorized", () => {
  showState("closed", "signed out: sign in again to chat");
});
client.addEventListener("message", (event) => {
  const data = event.detail;
  if (!data || typeof data !== "object" || data.room !== client.channel) return; // e.g. a pong, or a room just left
  if (data.type === "chat.message") {
    addMessages([data]);
  } else if (data.type === "chat.history" && Array.isArray(data.messages)) {
    addMessages(data.messages);
  }
});

chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = chatInput.value.trim();
  if (!text) return;
  client.send({ action: "send", text }); // queued by the client while it reconnects
  chatInput.value = "";
});

roomInput.addEventListener("input", () => {
  const name = roomInput.value.trim();
  roomInput.setCustomValidity(!name || roomPattern.test(name) ? "" : roomInput.title);
});

roomForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = roomInput.value.trim();
  if (!roomForm.reportValidity() || !roomPattern.test(room)) return;
  if (room !== client.channel) {
    history.pushState({ room }, "", `${roomUrlPrefix}${encodeURIComponent(room)}/`);
    enterRoom(room);
  }
  roomInput.value = "";
});

window.addEventListener("popstate", (event) => {
  const room = event.state?.room ?? roomFromPath();
  if (room && room !== client.channel) enterRoom(room);
});

history.replaceState({ room: client.channel }, "");
for (const time of list.querySelectorAll("time")) time.textContent = formatTime(time.dateTime);
list.scrollTop = list.scrollHeight;

function enterRoom(room) {
  roomName.textContent = room;
  roomInput.placeholder = room; // the field shows the room this page is in now
  chatInput.placeholder = `Say something to ${room}`;
  document.title = document.title.replace(/^[^·]*·/, `${room} ·`);
  list.replaceChildren(); // the new room's history arrives once the new connection is open
  client.switchChannel(room);
}

function addMessages(messages) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  for (const message of messages) {
    if (!Number.isInteger(message.id) || list.querySelector(`li[data-id="${message.id}"]`)) continue;
    const item = renderMessage(message);
    const next = [...list.children].find((li) => Number(li.dataset.id) > message.id);
    list.insertBefore(item, next ?? null); // ids grow with time: keep the list in id order
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function renderMessage({ id, author, text, sent_at: sentAt }) {
  const item = document.createElement("li");
  item.dataset.id = String(id);
  item.dataset.author = author;
  const who = document.createElement("span");
  who.className = "author";
  who.textContent = author;
  const time = document.createElement("time");
  time.dateTime = sentAt;
  time.textContent = formatTime(sentAt);
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(who, " ", time, " ", body);
  return item;
}

function showState(state, label = state) {
  status.dataset.state = state;
  status.textContent = label;
}

function formatTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
}

function roomFromPath() {
  const last = location.pathname.replace(/\/$/, "").split("/").pop();
  return last ? decodeURIComponent(last) : null;
}

// The server's channel name pattern (a Python regular expression); when JavaScript cannot read it, the server
// alone decides and a refused name shows up as a connection that keeps reconnecting.
function compilePattern(source) {
  try {
    return new RegExp(`^(?:${source})$`, "u");
  } catch {
    return /^.+$/u;
  }
}
