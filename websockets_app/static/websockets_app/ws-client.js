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
 * Events: open, message (detail: parsed JSON, or the raw string), close (detail: code, reason, willReconnect),
 * reconnecting (detail: attempt, delayMs), state (detail: "connecting" | "open" | "reconnecting" | "closed"),
 * error, unauthorized.
 */

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30000, factor: 2 };

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

  constructor({
    url,
    tokenUrl,
    channel = null,
    csrfToken = null,
    keepaliveSeconds = 300,
    keepaliveMessage = { action: "ping" },
    backoff = {},
    maxQueue = 100,
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
    this.#url = parsed;
    this.#tokenUrl = tokenUrl;
    this.#channel = channel || null;
    this.#csrfToken = csrfToken;
    this.#keepaliveMs = keepaliveSeconds * 1000;
    this.#keepaliveMessage = keepaliveMessage;
    this.#backoff = { ...DEFAULT_BACKOFF, ...backoff };
    this.#maxQueue = maxQueue;
    // Started on the next microtask, so listeners added right after `new` see the first events.
    queueMicrotask(() => this.#connect("connecting"));
  }

  get state() {
    return this.#state;
  }

  get channel() {
    return this.#channel;
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

  /** Leave this channel for `name`: the socket is closed and a new one opened with a fresh token. */
  switchChannel(name) {
    if (this.#stopped) throw new Error("WebSocketClient: the client is closed");
    this.#channel = name || null;
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
      // Queued messages go first, in order, before anything an "open" listener sends.
      for (const text of this.#queue.splice(0)) socket.send(text);
      this.#armKeepalive();
      this.#setState("open");
      this.dispatchEvent(new Event("open"));
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.#socket) return;
      this.#emit("message", parseMessage(event.data));
    });
    socket.addEventListener("error", () => {
      if (socket === this.#socket) this.#emit("error", { reason: "socket" });
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.#socket) return; // a socket this client already let go of
      this.#socket = null;
      clearTimeout(this.#keepaliveTimer);
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
