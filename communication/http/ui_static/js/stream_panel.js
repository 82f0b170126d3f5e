// One stream of a workflow as a live tail: values in offset order as they are written, resumed after a
// dropped connection from the last offset shown (EventSource's Last-Event-ID, or offset=<last+1>).

import { liveUrl } from './api.js';
import { h, json } from './dom.js';
import { LiveTail, describeTail } from './live.js';

const MAX_SHOWN = 2000; // older values leave the page (they stay readable through the snapshot API)

export class StreamPanel {
  constructor(workflowId, key) {
    this.workflowId = workflowId;
    this.key = key;
    this.count = 0;
    this.list = h('ol', { class: 'stream-values', 'data-stream-key': key });
    this.state = h('span', { class: 'tail-state', 'data-state': 'connecting' }, 'connecting');
    this.counter = h('span', { class: 'muted stream-count' }, '0 values');
    this.element = h('section', { class: 'stream', 'data-stream-key': key },
      h('div', { class: 'panel-head' }, h('h3', {}, key), this.counter, this.state),
      this.list);
    this.tail = new LiveTail({
      itemEvent: 'value',
      open: async (lastId, fresh) => {
        const offset = lastId === null ? 0 : lastId + 1;
        const path = `/streams/${encodeURIComponent(key)}/live`;
        return new EventSource(await liveUrl(workflowId, path, { offset }, fresh));
      },
      onItem: (offset, value) => this.add(offset, value),
      onEnd: (end) => {
        this.state.title = `ended: ${end.reason} (workflow ${end.workflow_status})`;
      },
      onState: (state, tail) => {
        this.state.dataset.state = state;
        this.state.dataset.reconnects = String(tail.reconnects);
        this.state.textContent = describeTail(tail);
      },
    }).start();
  }

  add(offset, value) {
    this.count += 1;
    // Follow the tail while the user is at the bottom of the list.
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    const item = h('li', { 'data-offset': offset, value: offset + 1 },
      h('span', { class: 'offset' }, offset), h('code', { class: 'value' }, json(value)));
    this.list.append(item);
    if (this.list.children.length > MAX_SHOWN) this.list.firstElementChild.remove();
    this.counter.textContent = `${this.count} value${this.count === 1 ? '' : 's'}`;
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  close() {
    this.tail.close();
  }
}
