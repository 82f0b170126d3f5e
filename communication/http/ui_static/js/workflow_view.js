// Workflow view: status and result, events (live, with a progress bar for a 0-100 `progress` event),
// every stream as a live tail, steps with timing, and the controls of workflow_actions.js.
// Live parts use SSE; status, stream list and steps are re-read every second until the workflow finishes.

import { get, liveUrl, workflowPath } from './api.js';
import { Poller, TERMINAL, fill, formatDuration, formatTime, h, json, prettyJson, statusBadge } from './dom.js';
import { LiveTail, describeTail } from './live.js';
import { StreamPanel } from './stream_panel.js';
import { workflowActions } from './workflow_actions.js';

const REFRESH_MS = 1000;

function progressOf(events) {
  const value = events.progress ? events.progress.value : undefined;
  return typeof value === 'number' && value >= 0 && value <= 100 ? value : null;
}

/** "+1.234 s" from the workflow's first step, so the steps' timing reads at a glance. */
function offsetFrom(origin, iso) {
  if (!iso || origin === null) return '';
  return `+${((Date.parse(iso) - origin) / 1000).toFixed(3)} s`;
}

function stepRow(step, origin) {
  const outcome = step.error ? `error: ${step.error}` : json(step.output);
  return h('tr', { dataset: { stepId: step.step_id } },
    h('td', { 'data-label': '#' }, step.step_id),
    h('td', { 'data-label': 'Step' }, step.name,
      step.child_workflow_id ? h('a', { href: `#/workflows/${encodeURIComponent(step.child_workflow_id)}` }, ' ↗') : null),
    h('td', { 'data-label': 'Started', class: 'num', title: formatTime(step.started_at) }, offsetFrom(origin, step.started_at)),
    h('td', { 'data-label': 'Duration', class: 'num' }, formatDuration(step.duration_ms)),
    h('td', { 'data-label': 'Output', class: step.error ? 'error-text clip' : 'clip', title: outcome }, outcome));
}

/** Mount the view of `workflowId` into `root`. Returns the unmount function. */
export async function mountWorkflow(root, workflowId, remount) {
  let active = true;
  let info = await get(workflowPath(workflowId));
  const events = {};
  const streams = new Map();

  // -- layout ---------------------------------------------------------------------------------------------
  const status = h('span', { id: 'wf-status' });
  const meta = h('div', { class: 'meta muted', id: 'wf-meta' });
  const progress = h('progress', { id: 'wf-progress', max: 100, value: 0 });
  const progressLabel = h('span', { id: 'wf-progress-label' });
  const progressBox = h('div', { class: 'progress', hidden: true }, progress, progressLabel);
  const result = h('pre', { id: 'wf-result', class: 'json' });
  const resultTitle = h('h3', {}, 'Result');
  const eventRows = h('tbody', { id: 'wf-event-rows' });
  const eventsState = h('span', { class: 'tail-state', id: 'wf-events-state' }, 'connecting');
  const streamsBox = h('div', { class: 'streams', id: 'wf-streams' });
  const noStreams = h('p', { class: 'muted' }, 'No stream written yet.');
  const stepRows = h('tbody', { id: 'wf-step-rows' });
  const actions = workflowActions(workflowId, {
    onChange: () => poller.kick(),
    onResumed: () => remount(),
  });

  fill(root,
    h('p', {}, h('a', { href: '#/workflows' }, '← all workflows')),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { class: 'wf-title' }, workflowId), status),
      meta, progressBox,
      resultTitle, result,
      h('details', {}, h('summary', {}, 'Input'), h('pre', { class: 'json', id: 'wf-input' }, prettyJson(info.input)))),
    actions.element,
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h3', {}, 'Events'), eventsState),
      h('table', { class: 'list', id: 'wf-events' },
        h('thead', {}, h('tr', {}, ['Key', 'Value', 'Version'].map((c) => h('th', {}, c)))), eventRows)),
    h('section', { class: 'panel' }, h('h3', {}, 'Streams'), noStreams, streamsBox),
    h('section', { class: 'panel' }, h('h3', {}, 'Steps'),
      h('div', { class: 'scroll' }, h('table', { class: 'list', id: 'wf-steps' },
        h('thead', {}, h('tr', {}, ['#', 'Step', 'Started', 'Duration', 'Output'].map((c) => h('th', {}, c)))),
        stepRows))));

  // -- rendering ------------------------------------------------------------------------------------------
  function renderInfo() {
    fill(status, statusBadge(info.status));
    fill(meta,
      `type ${info.type} · created ${formatTime(info.created_at)} · updated ${formatTime(info.updated_at)}`,
      info.forked_from ? [' · forked from ', h('a', { href: `#/workflows/${encodeURIComponent(info.forked_from)}` }, info.forked_from)] : null);
    if (info.error) {
      resultTitle.textContent = 'Error';
      result.className = 'json error-text';
      result.textContent = info.error;
    } else if (TERMINAL.has(info.status)) {
      resultTitle.textContent = 'Result';
      result.className = 'json';
      result.textContent = prettyJson(info.output);
    } else {
      resultTitle.textContent = 'Result';
      result.className = 'json muted';
      result.textContent = 'not finished yet';
    }
    actions.update(info, events);
  }

  function renderEvents() {
    const keys = Object.keys(events).sort();
    eventRows.replaceChildren(...keys.map((key) => h('tr', { dataset: { key } },
      h('td', { 'data-label': 'Key' }, key),
      h('td', { 'data-label': 'Value', class: 'clip event-value', title: json(events[key].value) }, json(events[key].value)),
      h('td', { 'data-label': 'Version', class: 'num' }, events[key].version))));
    const pct = progressOf(events);
    progressBox.hidden = pct === null;
    if (pct !== null) {
      progress.value = pct;
      progressLabel.textContent = `${pct}%`;
    }
    actions.update(info, events);
  }

  // -- periodic reads: status, stream list, steps ---------------------------------------------------------
  async function refresh() {
    const [nextInfo, streamList, steps] = await Promise.all([
      get(workflowPath(workflowId)),
      get(workflowPath(workflowId, '/streams')),
      get(workflowPath(workflowId, '/steps')),
    ]);
    if (!active) return;
    info = nextInfo;
    renderInfo();
    for (const s of streamList.streams) {
      if (!streams.has(s.key)) {
        const panel = new StreamPanel(workflowId, s.key);
        streams.set(s.key, panel);
        streamsBox.append(panel.element);
      }
    }
    noStreams.hidden = streams.size > 0;
    const first = steps.steps.find((s) => s.started_at);
    const origin = first ? Date.parse(first.started_at) : null;
    stepRows.replaceChildren(...steps.steps.map((step) => stepRow(step, origin)));
    // One more read after the end (a last stream or step may land with the final status), then stop.
    if (TERMINAL.has(info.status)) {
      if (finalRead) poller.stop();
      finalRead = true;
    }
  }
  let finalRead = false;
  const poller = new Poller(REFRESH_MS, refresh).start();

  // -- live events ----------------------------------------------------------------------------------------
  const eventTail = new LiveTail({
    itemEvent: 'event',
    open: async (lastId, fresh) => new EventSource(
      await liveUrl(workflowId, '/events/live', lastId === null ? {} : { after_version: lastId }, fresh)),
    onItem: (version, data) => {
      events[data.key] = { value: data.value, version };
      renderEvents();
    },
    onEnd: () => poller.kick(), // the workflow finished: read its final status and result now
    onState: (state, tail) => {
      eventsState.dataset.state = state;
      eventsState.textContent = describeTail(tail);
    },
  }).start();

  renderInfo();

  return () => {
    active = false;
    poller.stop();
    eventTail.close();
    for (const panel of streams.values()) panel.close();
  };
}

export function workflowNotFound(root, workflowId, err, retrying) {
  fill(root, h('section', { class: 'panel' }, h('h2', {}, workflowId),
    h('p', { class: 'error-text', id: 'wf-missing' }, `${err.code}: ${err.message}`),
    retrying ? h('p', { class: 'muted' }, 'It may not have started yet: asking again every second.') : null,
    h('p', {}, h('a', { href: '#/workflows' }, '← all workflows'))));
}
