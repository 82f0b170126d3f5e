// Sessions view: there is no session list in the API, so the user names a session, tails it live
// (/v1/sessions/{id}/live) and posts events to it. With an API key the tail runs over fetch (EventSource
// cannot send the Authorization header and read tokens are per workflow, not per session).

import { apiKey, describeError, post } from './api.js';
import { field, fill, formatTime, h, json, toast } from './dom.js';
import { FetchEventSource } from './fetch_source.js';
import { LiveTail, describeTail } from './live.js';

function sessionPath(sessionId, suffix) {
  return `/v1/sessions/${encodeURIComponent(sessionId)}${suffix}`;
}

function openSession(sessionId, lastId) {
  const url = sessionPath(sessionId, '/live') + (lastId === null ? '' : `?offset=${lastId + 1}`);
  const key = apiKey();
  return key ? new FetchEventSource(url, { Authorization: `Bearer ${key}` }) : new EventSource(url);
}

function tailPanel(sessionId) {
  const rows = h('tbody', { id: 'session-rows' });
  const state = h('span', { class: 'tail-state', id: 'session-state' }, 'connecting');
  const tail = new LiveTail({
    itemEvent: 'value',
    open: async (lastId) => openSession(sessionId, lastId),
    onItem: (offset, value) => {
      rows.append(h('tr', { dataset: { offset } },
        h('td', { 'data-label': 'Offset', class: 'num' }, offset),
        h('td', { 'data-label': 'Type' }, value.type),
        h('td', { 'data-label': 'Data', class: 'clip', title: json(value.data) }, json(value.data)),
        h('td', { 'data-label': 'Id', class: 'clip' }, value.id),
        h('td', { 'data-label': 'Time' }, formatTime(value.timestamp))));
    },
    onState: (s, t) => {
      state.dataset.state = s;
      state.textContent = describeTail(t);
    },
  }).start();

  const type = h('input', { id: 'session-type', type: 'text', value: 'message', autocomplete: 'off' });
  const data = h('textarea', { id: 'session-data', rows: 2, spellcheck: 'false', value: '{"text": "hello"}' });
  const eventId = h('input', { id: 'session-event-id', type: 'text', placeholder: '(none)', autocomplete: 'off' });
  const form = h('form', { id: 'session-form', class: 'stack' },
    h('div', { class: 'form-grid' }, field('Type', type, "'done' or 'timeout' closes the session."),
      field('Event id', eventId, 'Optional: reposts are duplicates.')),
    field('Data (JSON)', data),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'session-post' }, 'Post event')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let value;
    try {
      value = JSON.parse(data.value);
    } catch (err) {
      toast(`data is not valid JSON: ${err.message}`, 'error');
      return;
    }
    try {
      const body = { type: type.value.trim() || 'message', data: value };
      if (eventId.value.trim()) body.id = eventId.value.trim();
      const ack = await post(sessionPath(sessionId, '/events'), body);
      toast(`event ${ack.outcome}`);
    } catch (err) {
      toast(`post failed: ${describeError(err)}`, 'error');
    }
  });

  const element = h('div', { class: 'stack' },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h3', {}, `Session ${sessionId}`), state),
      h('table', { class: 'list', id: 'session-events' },
        h('thead', {}, h('tr', {}, ['Offset', 'Type', 'Data', 'Id', 'Time'].map((c) => h('th', {}, c)))), rows)),
    h('section', { class: 'panel' }, h('h3', {}, 'Post an event'), form));
  return { element, close: () => tail.close() };
}

/** Mount the sessions view; `sessionId` (from the URL) opens its tail at once. */
export async function mountSessions(root, sessionId) {
  const idInput = h('input', { id: 'session-id', type: 'text', value: sessionId || '', placeholder: 'job-42',
    autocomplete: 'off', required: true });
  const open = h('form', { id: 'session-open', class: 'inline-form' },
    field('Session id', idInput, 'Tailing a session creates it if nobody posted to it yet.'),
    h('button', { type: 'submit', class: 'primary', id: 'session-tail' }, 'Tail'));
  open.addEventListener('submit', (e) => {
    e.preventDefault();
    const id = idInput.value.trim();
    if (id) location.hash = `#/sessions/${encodeURIComponent(id)}`;
  });
  const panel = sessionId ? tailPanel(sessionId) : null;
  fill(root,
    h('section', { class: 'panel' }, h('h2', {}, 'Sessions'),
      h('p', { class: 'muted' }, 'Durable event streams fed by external producers (POST /v1/sessions/{id}/events).'),
      open),
    panel ? panel.element : null);
  return () => {
    if (panel) panel.close();
  };
}
