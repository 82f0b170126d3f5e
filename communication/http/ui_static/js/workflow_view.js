// Workflow view: status and result, events (live, with a progress bar for a 0-100 `progress` event),
// every stream as a live tail, steps with timing, and the controls of workflow_actions.js.
// Everything live comes from one feed connection (the dbos-comm package's `workflow(id).feed`); nothing polls.
// Steps are read when the view opens, when the status changes and at the end, or on demand.

import { get, workflowPath } from './api.js';
import { TERMINAL, fill, formatDuration, formatTime, h, json, prettyJson, statusBadge } from './dom.js';
import { StreamPanel, describeState } from './stream_panel.js';
import { openFeed } from './workflow_feed.js';
import { workflowActions } from './workflow_actions.js';

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
    onChange: () => readInfo(), // a cancel or a message: show its effect at once (the feed follows too)
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
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h3', {}, 'Steps'),
        h('button', { type: 'button', class: 'ghost', id: 'wf-steps-reload', onclick: () => readSteps() }, 'Reload')),
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

  // -- one-off reads: steps (no feed carries them), the full status after an action or the end -------------
  async function readSteps() {
    const steps = await get(workflowPath(workflowId, '/steps'));
    if (!active) return;
    const first = steps.steps.find((s) => s.started_at);
    const origin = first ? Date.parse(first.started_at) : null;
    stepRows.replaceChildren(...steps.steps.map((step) => stepRow(step, origin)));
  }

  async function readInfo() {
    const next = await get(workflowPath(workflowId));
    if (!active) return;
    // A read racing the feed's end must not show the workflow running again.
    if (!TERMINAL.has(info.status) || TERMINAL.has(next.status)) info = next;
    renderInfo();
  }

  const quietly = (promise) => promise.catch((err) => console.warn('workflow view:', err && err.message));

  // -- the feed: status, events, streams, end ---------------------------------------------------------------
  function streamPanel(key) {
    let panel = streams.get(key);
    if (!panel) {
      panel = new StreamPanel(key);
      panel.setState(feedState.state, feedState.reconnects);
      streams.set(key, panel);
      streamsBox.append(panel.element);
      noStreams.hidden = true;
    }
    return panel;
  }

  const feedState = { state: 'connecting', reconnects: 0 };
  const feed = openFeed(workflowId, {
    onStatus: (next) => {
      if (next === info.status) return;
      info = { ...info, status: next };
      renderInfo();
      quietly(readSteps()); // a new status is a new phase: its steps
    },
    onEvent: (frame) => {
      events[frame.key] = { value: frame.error ? `(${frame.error.code})` : frame.value, version: frame.version };
      renderEvents();
    },
    onStream: (frame) => {
      streamPanel(frame.key).add(frame.offset, frame.error ? `(${frame.error.code})` : frame.value);
    },
    onEnd: (end) => {
      info = { ...info, status: end.status, output: end.output, error: end.error ?? null };
      renderInfo();
      // The final timestamps and steps, read once.
      quietly(readInfo());
      quietly(readSteps());
    },
    onState: (state, reconnects) => {
      feedState.state = state;
      feedState.reconnects = reconnects;
      eventsState.dataset.state = state;
      eventsState.textContent = describeState(state, reconnects);
      for (const panel of streams.values()) panel.setState(state, reconnects);
    },
  });
  quietly(readSteps());

  renderInfo();

  return () => {
    active = false;
    feed.close();
  };
}

export function workflowNotFound(root, workflowId, err, retrying) {
  fill(root, h('section', { class: 'panel' }, h('h2', {}, workflowId),
    h('p', { class: 'error-text', id: 'wf-missing' }, `${err.code}: ${err.message}`),
    retrying ? h('p', { class: 'muted' }, 'It may not have started yet: asking again every second.') : null,
    h('p', {}, h('a', { href: '#/workflows' }, '← all workflows'))));
}
