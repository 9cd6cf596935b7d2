// Live updates: a WebSocket on api/events (same origin, ws:// or wss://, admin
// token as ?token= since browsers cannot set headers on a WebSocket) whose
// events tell pages which REST resources to refetch. Pages always render from
// REST, so after a (re)connect every subscriber refetches and nothing missed
// while disconnected is lost. While the socket is down the page polls REST
// every 2 s and reconnects with exponential backoff (1 s .. 30 s, jittered).
import { getToken, onTokenChange } from './auth';
import type { ServerEvent } from './types';

export type LiveMode = 'connecting' | 'live' | 'polling';

export interface Subscriber {
  /** An event arrived; the subscriber decides whether it cares (and debounces). */
  onEvent?(ev: ServerEvent): void;
  /** Refetch everything shown (poll tick, reconnect catch-up). */
  refresh(): void;
}

const POLL_MS = 2000;
const LIVE_SAFETY_MS = 15000; // slow refresh even when live (e.g. clients' last-seen)
const MAX_BACKOFF_MS = 30000;

class LiveFeed {
  mode: LiveMode = 'connecting';
  private ws: WebSocket | null = null;
  private subs = new Set<Subscriber>();
  private modeListeners = new Set<(m: LiveMode) => void>();
  private attempt = 0;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private started = false;

  start(): void {
    if (this.started) return;
    this.started = true;
    onTokenChange(() => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        this.refreshAll();
        if (!this.ws) this.reconnectNow();
      }
    });
    this.connect();
  }

  subscribe(s: Subscriber): () => void {
    this.subs.add(s);
    return () => this.subs.delete(s);
  }

  onMode(fn: (m: LiveMode) => void): () => void {
    this.modeListeners.add(fn);
    fn(this.mode);
    return () => this.modeListeners.delete(fn);
  }

  private setMode(m: LiveMode): void {
    if (this.mode === m) return;
    this.mode = m;
    for (const l of this.modeListeners) l(m);
  }

  private refreshAll(): void {
    for (const s of [...this.subs]) s.refresh();
  }

  private url(): string {
    const u = new URL('api/events', document.baseURI);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const t = getToken();
    if (t) u.searchParams.set('token', t);
    return u.toString();
  }

  private startPolling(ms: number): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = setInterval(() => {
      if (document.visibilityState !== 'hidden') this.refreshAll();
    }, ms);
  }

  private connect(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.mode !== 'polling') this.setMode('connecting');
    // Poll until the socket proves itself.
    if (this.pollTimer === undefined) this.startPolling(POLL_MS);
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.setMode('live');
      this.startPolling(LIVE_SAFETY_MS);
      this.refreshAll(); // catch up on anything missed while disconnected
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws || typeof m.data !== 'string') return;
      let ev: ServerEvent;
      try {
        ev = JSON.parse(m.data) as ServerEvent;
      } catch {
        return;
      }
      if (!ev || typeof ev.type !== 'string') return;
      for (const s of [...this.subs]) s.onEvent?.(ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setMode('polling');
      this.startPolling(POLL_MS);
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleReconnect(): void {
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    const delay = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private reconnectNow(): void {
    const old = this.ws;
    this.ws = null;
    if (old) old.close();
    this.attempt = 0;
    this.connect();
    this.refreshAll();
  }
}

export const live = new LiveFeed();
