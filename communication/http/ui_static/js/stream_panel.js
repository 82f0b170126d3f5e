// One stream of a workflow: its values in offset order as the workflow's feed delivers them, and the state of
// that feed's connection (the feed resumes after the last value it delivered: no gap, no duplicate).

import { h, json } from './dom.js';

const MAX_SHOWN = 2000; // older values leave the page (they stay readable through the snapshot API)

export class StreamPanel {
  constructor(key) {
    this.key = key;
    this.count = 0;
    this.list = h('ol', { class: 'stream-values', 'data-stream-key': key });
    this.state = h('span', { class: 'tail-state', 'data-state': 'connecting' }, 'connecting');
    this.counter = h('span', { class: 'muted stream-count' }, '0 values');
    this.element = h('section', { class: 'stream', 'data-stream-key': key },
      h('div', { class: 'panel-head' }, h('h3', {}, key), this.counter, this.state),
      this.list);
  }

  /** Show the feed's connection state, e.g. "live · reconnected 1×". */
  setState(state, reconnects) {
    this.state.dataset.state = state;
    this.state.dataset.reconnects = String(reconnects);
    this.state.textContent = describeState(state, reconnects);
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
}

/** A short text for a connection state, e.g. "live · reconnected 1×". */
export function describeState(state, reconnects) {
  return `${state}${reconnects ? ` · reconnected ${reconnects}×` : ''}`;
}
