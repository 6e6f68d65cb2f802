/**
 * WebSocketClient: a browser connection to the site's API Gateway WebSocket API that keeps itself open.
 *
 *   import { WebSocketClient } from "/static/websockets_app/ws-client.js";
 *   const client = new WebSocketClient({ url, tokenUrl, channel });  // e.g. WebSocketContextMixin's config
 *   client.addEventListener("message", (event) => console.log(event.detail));
 *   client.send({ action: "ping" });
 *
 * Every connect and reconnect first asks the token endpoint for a fresh single-use token (POST, same-origin
 * cookies, the CSRF header): a token is spent by the $connect it opens, so none can be reused. Connections that
 * end without close() being called are reopened after an exponential backoff with full jitter; a 403 from the
 * token endpoint (the user logged out) stops for good. API Gateway picks a connection's channel at $connect, so
 * switchChannel() opens a new connection.
 *
 * Channels that survive reconnects (docs/replay.md): a message sent with send_to_channel(..., replay=True) arrives
 * as {seq, id, channel, data}; the client delivers its data as an ordinary message, remembers the channel's last
 * number, and after a reconnect sends {action: "resume", since} so the server replays what was missed, in order.
 * A message seen twice (a replay of one that did arrive) is dropped. `since` tells where a freshly loaded page
 * stands, so even the first open resumes from there.
 *
 * Events: open (detail: resumed, true when a resume was sent), message (detail: parsed JSON, or the raw string; for
 * a numbered message its data, with event.seq and event.id), close (detail: code, reason, willReconnect),
 * reconnecting (detail: attempt, delayMs), state (detail: "connecting" | "open" | "reconnecting" | "closed"),
 * gap (detail: the server's gap notice: channel, since, first, last; the missed messages are gone, reload them),
 * presence (detail: a join, leave or snapshot notice), error, unauthorized.
 */

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30000, factor: 2 };
// Numbers seen ahead of a missing one (messages from concurrent senders can arrive out of order) are remembered up
// to this many; past it the client stops waiting for the missing ones.
const MAX_SEQ_AHEAD = 1000;
// While a resume is answered, live numbered messages wait so that the replayed ones are delivered before them; if
// no answer comes (the server refused the resume), they wait no longer than this.
const RESUME_WAIT_MS = 5000;

export class WebSocketClient extends EventTarget {
  #url;
  #tokenUrl;
  #channel;
  #csrfToken;
  #keepaliveMs;
  #keepaliveMessage;
  #backoff;
  #maxQueue;
  #socket = null;
  #state = "closed";
  #queue = [];
  #attempt = 0; // reconnects since the last successful open
  #generation = 0; // bumped by every new connection attempt and by close(): stale callbacks compare and return
  #stopped = false;
  #retryTimer = null;
  #keepaliveTimer = null;
  #lastSeq = new Map(); // channel -> the number up to which every message was seen
  #seqAhead = new Map(); // channel -> numbers seen past a missing one
  #resuming = false; // a resume was sent and its answer has not come yet
  #held = []; // live numbered messages that arrived while resuming
  #resumeTimer = null;

  constructor({
    url,
    tokenUrl,
    channel = null,
    csrfToken = null,
    keepaliveSeconds = 300,
    keepaliveMessage = { action: "ping" },
    backoff = {},
    maxQueue = 100,
    since = null,
  } = {}) {
    super();
    const parsed = new URL(url); // throws a TypeError for a URL that is not one
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new TypeError(`WebSocketClient: url must start with ws:// or wss://, not ${parsed.protocol}`);
    }
    if (!tokenUrl) throw new TypeError("WebSocketClient: tokenUrl is required");
    if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) {
      throw new TypeError("WebSocketClient: maxQueue must be an integer of 0 or more");
    }
    if (!(Number.isFinite(keepaliveSeconds) && keepaliveSeconds >= 0)) {
      throw new TypeError("WebSocketClient: keepaliveSeconds must be a number of 0 (off) or more");
    }
    if (!(since === null || (Number.isInteger(since) && since >= 0))) {
      throw new TypeError("WebSocketClient: since must be null or an integer of 0 or more");
    }
    this.#url = parsed;
    this.#tokenUrl = tokenUrl;
    this.#channel = channel || null;
    this.#csrfToken = csrfToken;
    this.#keepaliveMs = keepaliveSeconds * 1000;
    this.#keepaliveMessage = keepaliveMessage;
    this.#backoff = { ...DEFAULT_BACKOFF, ...backoff };
    this.#maxQueue = maxQueue;
    if (since !== null && this.#channel) this.#lastSeq.set(this.#channel, since);
    // Started on the next microtask, so listeners added right after `new` see the first events.
    queueMicrotask(() => this.#connect("connecting"));
  }

  get state() {
    return this.#state;
  }

  get channel() {
    return this.#channel;
  }

  /** The channel's number up to which every message arrived; null while unknown. */
  lastSeq(channel = this.#channel) {
    return this.#lastSeq.get(channel) ?? null;
  }

  /** Send `data` as JSON now, or once the connection is open (the oldest queued message is dropped when full). */
  send(data) {
    if (this.#stopped) throw new Error("WebSocketClient: the client is closed");
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("WebSocketClient: send() needs a JSON-serialisable value");
    if (this.#state === "open" && this.#socket?.readyState === WebSocket.OPEN) {
      this.#write(text);
      return;
    }
    this.#queue.push(text);
    if (this.#queue.length > this.#maxQueue) {
      const dropped = this.#queue.shift();
      this.#emit("error", { reason: "queue-full", dropped: dropped === undefined ? text : dropped });
    }
  }

  /** Leave this channel for `name`: the socket is closed and a new one opened with a fresh token. `since`: where
   * the caller stands in the new channel (null: nowhere, so nothing is resumed on the first open). */
  switchChannel(name, { since = null } = {}) {
    if (this.#stopped) throw new Error("WebSocketClient: the client is closed");
    this.#channel = name || null;
    this.#forgetSeq(this.#channel);
    if (since !== null && this.#channel) this.#lastSeq.set(this.#channel, since);
    this.#dropSocket(1000, "switching channel");
    this.#attempt = 0;
    this.#connect("connecting");
  }

  /** Close the connection and never reconnect. */
  close(code = 1000, reason = "") {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#generation += 1;
    const socket = this.#socket;
    this.#dropSocket(code, reason);
    this.#queue = [];
    this.#setState("closed");
    if (socket) this.#emit("close", { code, reason, willReconnect: false });
  }

  // -- connecting --------------------------------------------------------------------------------------------

  async #connect(state) {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    clearTimeout(this.#retryTimer);
    this.#setState(state);
    let token;
    try {
      const response = await fetch(this.#tokenUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": this.#csrfToken ?? readCookie("csrftoken") ?? "" },
      });
      if (generation !== this.#generation) return;
      if (response.status === 401 || response.status === 403) {
        this.#stopped = true;
        this.#setState("closed");
        this.#emit("unauthorized", { status: response.status });
        return;
      }
      if (response.status === 429) {
        this.#scheduleReconnect(retryAfterMs(response.headers.get("Retry-After")));
        return;
      }
      if (!response.ok) throw new Error(`token request failed with HTTP ${response.status}`);
      ({ token } = await response.json());
      if (typeof token !== "string" || !token) throw new Error("token response without a token");
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#emit("error", { reason: "token", error });
      this.#scheduleReconnect();
      return;
    }
    if (generation !== this.#generation) return;
    this.#open(token);
  }

  #open(token) {
    const url = new URL(this.#url); // keeps any query the configured URL already has
    if (this.#channel) url.searchParams.set("channel", this.#channel);
    url.searchParams.set("ws_token", token);
    let socket;
    try {
      socket = new WebSocket(url.href);
    } catch (error) {
      this.#emit("error", { reason: "socket", error });
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.#socket) return;
      this.#attempt = 0;
      // The resume goes first (where the client stands is known when it has seen the channel's numbers, or the
      // page said where it stands), then queued messages in order, then anything an "open" listener sends.
      const since = this.lastSeq();
      const resumed = since !== null;
      if (resumed) {
        socket.send(JSON.stringify({ action: "resume", since }));
        this.#resuming = true;
        this.#resumeTimer = setTimeout(() => this.#endResume(), RESUME_WAIT_MS);
      }
      for (const text of this.#queue.splice(0)) socket.send(text);
      this.#armKeepalive();
      this.#setState("open");
      this.#emit("open", { resumed });
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.#socket) return;
      this.#receive(parseMessage(event.data));
    });
    socket.addEventListener("error", () => {
      if (socket === this.#socket) this.#emit("error", { reason: "socket" });
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.#socket) return; // a socket this client already let go of
      this.#socket = null;
      clearTimeout(this.#keepaliveTimer);
      this.#endResume();
      // Only close() stops for good, and it lets go of the socket first: any close seen here is reconnected.
      this.#setState("reconnecting");
      this.#emit("close", { code: event.code, reason: event.reason, willReconnect: true });
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(delayMs = null) {
    if (this.#stopped) return;
    const { initialMs, maxMs, factor } = this.#backoff;
    const ceiling = Math.min(maxMs, initialMs * factor ** this.#attempt);
    // Full jitter: anywhere from 0 to the ceiling, so clients dropped together do not return together.
    const delay = delayMs ?? Math.floor(Math.random() * ceiling);
    this.#attempt += 1;
    this.#setState("reconnecting");
    this.#emit("reconnecting", { attempt: this.#attempt, delayMs: delay });
    const generation = this.#generation;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (generation === this.#generation) this.#connect("reconnecting");
    }, delay);
  }

  // -- receiving: numbered messages, replays, gaps, presence ----------------------------------------------------

  #receive(data) {
    if (isEnvelope(data)) {
      if (this.#resuming) this.#held.push(data);
      else this.#deliver(data);
    } else if (data?.type === "replay" && Array.isArray(data.messages)) {
      for (const envelope of data.messages) if (isEnvelope(envelope)) this.#deliver(envelope);
      // A replay too large for one message comes in several posts: live ones wait for the last.
      if (data.more === true && this.#resuming) {
        clearTimeout(this.#resumeTimer);
        this.#resumeTimer = setTimeout(() => this.#endResume(), RESUME_WAIT_MS);
      } else {
        this.#endResume();
      }
    } else if (data?.type === "gap" && typeof data.channel === "string") {
      // What was missed is gone; from here on the channel's numbers count from its last one.
      this.#forgetSeq(data.channel);
      if (Number.isInteger(data.last)) this.#lastSeq.set(data.channel, data.last);
      this.#emit("gap", data);
      this.#endResume();
    } else if (data?.type === "presence" && typeof data.event === "string") {
      this.#emit("presence", data);
    } else {
      this.#emit("message", data);
    }
  }

  // Each number is delivered once: a number at or below the last contiguous one, or one already seen ahead of a
  // missing number, is a repeat (a replayed message that had arrived after all).
  #deliver({ seq, id, channel, data }) {
    const last = this.#lastSeq.get(channel);
    if (last === undefined) {
      this.#lastSeq.set(channel, seq); // the first number this client hears of on the channel
    } else {
      const ahead = this.#seqAhead.get(channel) ?? new Set();
      if (seq <= last || ahead.has(seq)) return;
      ahead.add(seq);
      let contiguous = last;
      while (ahead.delete(contiguous + 1)) contiguous += 1;
      if (ahead.size > MAX_SEQ_AHEAD) {
        contiguous = Math.max(...ahead);
        ahead.clear();
      }
      this.#lastSeq.set(channel, contiguous);
      this.#seqAhead.set(channel, ahead);
    }
    const event = new CustomEvent("message", { detail: data });
    event.seq = seq;
    event.id = id;
    this.dispatchEvent(event);
  }

  #endResume() {
    clearTimeout(this.#resumeTimer);
    this.#resuming = false;
    const held = this.#held.splice(0).sort((a, b) => a.seq - b.seq);
    for (const envelope of held) this.#deliver(envelope);
  }

  #forgetSeq(channel) {
    this.#lastSeq.delete(channel);
    this.#seqAhead.delete(channel);
  }

  // -- sending and keepalive --------------------------------------------------------------------------------

  #write(text) {
    this.#socket.send(text);
    this.#armKeepalive();
  }

  // API Gateway closes a connection idle for 10 minutes; a message every keepaliveSeconds of silence keeps it.
  #armKeepalive() {
    clearTimeout(this.#keepaliveTimer);
    if (!this.#keepaliveMs) return;
    this.#keepaliveTimer = setTimeout(() => {
      if (this.#state === "open") this.#write(JSON.stringify(this.#keepaliveMessage));
    }, this.#keepaliveMs);
  }

  // -- helpers ----------------------------------------------------------------------------------------------

  #dropSocket(code, reason) {
    const socket = this.#socket;
    this.#socket = null; // its close event is now ignored
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#keepaliveTimer);
    // Let go of this connection's resume: what it held belongs to a channel or a client being left.
    clearTimeout(this.#resumeTimer);
    this.#resuming = false;
    this.#held = [];
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(code, reason);
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit("state", state);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function isEnvelope(data) {
  return (
    data !== null &&
    typeof data === "object" &&
    Number.isInteger(data.seq) &&
    typeof data.id === "string" &&
    typeof data.channel === "string" &&
    "data" in data &&
    !("type" in data)
  );
}

function parseMessage(data) {
  if (typeof data !== "string") return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

function retryAfterMs(header) {
  const seconds = Number.parseInt(header ?? "", 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}
