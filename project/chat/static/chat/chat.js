// The chat page: Django renders the room's latest messages; this script keeps the list live over the WebSocket.
//
// Chat messages are numbered per room (send_to_channel(..., replay=True)): after a reconnect the client resumes and
// the server replays what was missed, in order, each message once. The page asks for the room's history only when
// it cannot resume (a room just entered) or the server says the history no longer reaches back (a gap). Messages
// are rendered by id, so one that arrives both ways is shown once. Who is in the room is listed beside the chat:
// a snapshot after every open, then the join and leave notices.
import { WebSocketClient } from "ws-client";

const config = JSON.parse(document.getElementById("websocket-config").textContent);
const section = document.querySelector(".chat");
const roomName = document.getElementById("chat-room");
const status = document.getElementById("chat-status");
const list = document.getElementById("chat-messages");
const online = document.getElementById("chat-online");
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
client.addEventListener("open", (event) => {
  if (!event.detail?.resumed) client.send({ action: "history" });
  client.send({ action: "presence" });
});
client.addEventListener("gap", () => client.send({ action: "history" }));
client.addEventListener("presence", (event) => {
  const notice = event.detail;
  if (notice.channel !== client.channel) return;
  if (notice.event === "snapshot" && Array.isArray(notice.users)) {
    online.replaceChildren(...notice.users.map(renderPerson));
  } else if (notice.event === "join" && notice.user && !findPerson(notice.user.id)) {
    online.append(renderPerson(notice.user));
  } else if (notice.event === "leave" && notice.user) {
    findPerson(notice.user.id)?.remove();
  }
});
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
  online.replaceChildren(); // and who is there
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

function renderPerson({ id, name }) {
  const item = document.createElement("li");
  item.dataset.userId = String(id);
  item.textContent = name;
  return item;
}

function findPerson(id) {
  return [...online.children].find((item) => item.dataset.userId === String(id)) ?? null;
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
