// A minimal EventSource over fetch(), for SSE endpoints that need an Authorization header (EventSource
// cannot send one). It supports what LiveTail uses: onopen, onerror, addEventListener, readyState, close(),
// Last-Event-ID on its reconnects, and the server's `retry:` field.

export class FetchEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;

  constructor(url, headers) {
    this.url = url;
    this.headers = headers || {};
    this.readyState = FetchEventSource.CONNECTING;
    this.lastEventId = '';
    this.retryMs = 3000;
    this.listeners = new Map();
    this.onopen = null;
    this.onerror = null;
    this.controller = null;
    this.run();
  }

  addEventListener(name, listener) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(listener);
  }

  close() {
    this.readyState = FetchEventSource.CLOSED;
    if (this.controller) this.controller.abort();
  }

  async run() {
    while (this.readyState !== FetchEventSource.CLOSED) {
      this.controller = new AbortController();
      const headers = { ...this.headers, Accept: 'text/event-stream' };
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
      try {
        const response = await fetch(this.url, { headers, signal: this.controller.signal, cache: 'no-store' });
        if (!response.ok) {
          this.readyState = FetchEventSource.CLOSED; // like EventSource: an HTTP error is final
          if (this.onerror) this.onerror(new Event('error'));
          return;
        }
        this.readyState = FetchEventSource.OPEN;
        if (this.onopen) this.onopen(new Event('open'));
        await this.read(response.body.getReader());
      } catch (err) {
        if (this.readyState === FetchEventSource.CLOSED) return;
      }
      if (this.readyState === FetchEventSource.CLOSED) return;
      this.readyState = FetchEventSource.CONNECTING;
      if (this.onerror) this.onerror(new Event('error'));
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
    }
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = '';
    let frame = { event: 'message', data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          this.dispatch(frame);
          frame = { event: 'message', data: [], id: null };
          continue;
        }
        if (line.startsWith(':')) continue; // a comment (heartbeat)
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') frame.event = text;
        else if (field === 'data') frame.data.push(text);
        else if (field === 'id') frame.id = text;
        else if (field === 'retry' && /^\d+$/.test(text)) this.retryMs = Number(text);
      }
    }
  }

  dispatch(frame) {
    if (frame.id !== null) this.lastEventId = frame.id;
    if (frame.data.length === 0) return;
    const event = new MessageEvent(frame.event, { data: frame.data.join('\n'), lastEventId: this.lastEventId });
    for (const listener of this.listeners.get(frame.event) || []) listener(event);
  }
}
