// Resumable SSE subscriptions. A LiveTail owns one EventSource (or FetchEventSource) at a time:
// - the browser's own reconnects resend Last-Event-ID, so the server continues right after the last frame;
// - when the source gives up (an HTTP error such as an expired read token), the tail builds a new one itself,
//   starting after the last id it received (offset=<last+1> / after_version=<last>): no gap, no duplicate.

const RETRY_MS = [500, 1000, 2000, 5000, 10000];

export class LiveTail {
  /**
   * @param {object} options
   * @param {(lastId: number|null, fresh: boolean) => Promise<EventSource>} options.open  builds a source that
   *   starts after `lastId` (null: from the beginning); `fresh` asks for new credentials.
   * @param {string} options.itemEvent  name of the frames carrying values ('value' or 'event').
   * @param {(id: number, data: any) => void} options.onItem
   * @param {(data: any) => void} [options.onEnd]  the terminal frame (the tail is closed after it).
   * @param {(state: string, tail: LiveTail) => void} [options.onState]  connecting | live | reconnecting | ended
   */
  constructor(options) {
    this.options = options;
    this.lastId = null;
    this.reconnects = 0;
    this.state = 'connecting';
    this.source = null;
    this.closed = false;
    this.failures = 0;
    this.dropped = false; // set when the connection broke; the next open counts as a reconnect
    this.timer = null;
  }

  start() {
    this.connect(false);
    return this;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  setState(state) {
    this.state = state;
    if (this.options.onState) this.options.onState(state, this);
  }

  async connect(fresh) {
    if (this.closed) return;
    this.setState(this.dropped ? 'reconnecting' : 'connecting');
    let source;
    try {
      source = await this.options.open(this.lastId, fresh);
    } catch (err) {
      this.retry(err);
      return;
    }
    if (this.closed) {
      source.close();
      return;
    }
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      if (this.dropped) this.reconnects += 1;
      this.dropped = false;
      this.setState('live');
    };
    source.addEventListener(this.options.itemEvent, (e) => {
      const id = Number.parseInt(e.lastEventId, 10);
      this.lastId = id;
      this.options.onItem(id, JSON.parse(e.data));
    });
    source.addEventListener('overflow', (e) => {
      // Fell too far behind the live tail: start again right after the last value we have.
      const data = JSON.parse(e.data);
      this.lastId = data.next_offset - 1;
      source.close();
      this.dropped = true;
      this.connect(false);
    });
    source.addEventListener('end', (e) => {
      source.close();
      this.closed = true;
      this.setState('ended');
      if (this.options.onEnd) this.options.onEnd(JSON.parse(e.data));
    });
    source.onerror = () => {
      if (this.closed) return;
      this.dropped = true;
      if (source.readyState === EventSource.CONNECTING) {
        this.setState('reconnecting'); // the browser retries by itself, with Last-Event-ID
        return;
      }
      source.close(); // the browser gave up (HTTP error): rebuild, with a fresh read token
      this.retry(new Error('connection refused'));
    };
  }

  retry(err) {
    if (this.closed) return;
    this.dropped = true;
    this.setState('reconnecting');
    const delay = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    console.warn('live tail: retrying in', delay, 'ms:', err && err.message);
    this.timer = setTimeout(() => this.connect(true), delay);
  }
}

/** A short text for a tail's state, e.g. "live · reconnected 1×". */
export function describeTail(tail) {
  const again = tail.reconnects ? ` · reconnected ${tail.reconnects}×` : '';
  return `${tail.state}${again}`;
}
