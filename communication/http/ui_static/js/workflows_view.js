// Workflows view: a start form generated from each type's input schema, and the workflow list, refreshed
// every second (one cheap list query, whatever the number of rows) with status and type filters kept in the URL.

import { describeError, get, post, query } from './api.js';
import { Poller, field, fill, formatTime, h, statusBadge, toast } from './dom.js';
import { formInput, schemaFields } from './schema_form.js';

const STATUSES = ['PENDING', 'ENQUEUED', 'DELAYED', 'SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'];
const REFRESH_MS = 1000;
const PREFERRED_TYPES = ['streaming', 'events', 'messaging'];

let typesCache = null;

/** Registered workflow types (fetched once per page load). */
export async function workflowTypes() {
  if (!typesCache) typesCache = await get('/v1/workflow-types');
  return typesCache;
}

export function forgetTypes() {
  typesCache = null;
}

function startPanel(types) {
  const fieldsBox = h('div', { class: 'form-grid', id: 'start-fields' });
  const description = h('p', { class: 'muted', id: 'start-description' });
  const typeSelect = h('select', { id: 'start-type', name: 'type' },
    types.map((t) => h('option', { value: t.type }, t.type)));
  const idInput = h('input', { id: 'start-id', type: 'text', placeholder: '(generated)', autocomplete: 'off' });
  const showType = () => {
    const type = types.find((t) => t.type === typeSelect.value);
    fill(description, type ? type.description : '');
    fill(fieldsBox, type ? schemaFields(type.input_schema) : []);
  };
  typeSelect.value = PREFERRED_TYPES.find((name) => types.some((t) => t.type === name)) || types[0]?.type || '';
  typeSelect.addEventListener('change', showType);
  showType();

  const form = h('form', { id: 'start-form', class: 'stack' },
    h('div', { class: 'form-grid' }, field('Type', typeSelect), field('Workflow id', idInput, 'Optional; reuse = idempotent.')),
    description,
    fieldsBox,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'start-submit' }, 'Start workflow')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let input;
    try {
      input = formInput(fieldsBox);
    } catch (err) {
      toast(err.message, 'error');
      return;
    }
    try {
      const body = { type: typeSelect.value, input };
      if (idInput.value.trim()) body.workflow_id = idInput.value.trim();
      const info = await post('/v1/workflows', body);
      toast(`started ${info.workflow_id}`);
      location.hash = `#/workflows/${encodeURIComponent(info.workflow_id)}`;
    } catch (err) {
      toast(`start failed: ${describeError(err)}`, 'error');
    }
  });
  // Open on wide screens; on a phone the list comes first and the form is one tap away.
  const wide = !window.matchMedia('(max-width: 700px)').matches;
  return h('details', { class: 'panel', id: 'start-panel', open: wide },
    h('summary', {}, h('h2', {}, 'Start a workflow')), form);
}

function row(wf) {
  const link = h('a', { href: `#/workflows/${encodeURIComponent(wf.workflow_id)}` }, wf.workflow_id);
  return h('tr', { dataset: { workflowId: wf.workflow_id } },
    h('td', { 'data-label': 'Id', class: 'wf-id' }, link),
    h('td', { 'data-label': 'Type' }, wf.type),
    h('td', { 'data-label': 'Status', class: 'wf-status' }, statusBadge(wf.status)),
    h('td', { 'data-label': 'Created' }, formatTime(wf.created_at)),
    h('td', { 'data-label': 'Updated', class: 'wf-updated' }, formatTime(wf.updated_at)));
}

/** Mount the view into `root`; `params` are the hash's query parameters. Returns the unmount function. */
export async function mountWorkflows(root, params) {
  let active = true;
  const types = await workflowTypes();
  const status = h('select', { id: 'filter-status' }, h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s }, s)));
  const type = h('select', { id: 'filter-type' }, h('option', { value: '' }, 'any type'),
    types.map((t) => h('option', { value: t.type }, t.type)));
  status.value = params.get('status') || '';
  type.value = params.get('type') || '';
  const tbody = h('tbody', { id: 'workflow-rows' });
  const updated = h('span', { class: 'muted', id: 'list-updated' });
  const empty = h('p', { class: 'muted', id: 'list-empty', hidden: true }, 'No workflows match.');

  const refresh = async () => {
    const data = await get(`/v1/workflows${query({ status: status.value, type: type.value, limit: 50 })}`);
    if (!active) return;
    // Keyed update: rows whose content did not change stay the same nodes (no flicker, selection kept).
    const existing = new Map([...tbody.children].map((tr) => [tr.dataset.workflowId, tr]));
    const rows = data.workflows.map((wf) => {
      const key = `${wf.status}|${wf.updated_at}`;
      const old = existing.get(wf.workflow_id);
      if (old && old.dataset.key === key) return old;
      const fresh = row(wf);
      fresh.dataset.key = key;
      return fresh;
    });
    tbody.replaceChildren(...rows);
    empty.hidden = rows.length > 0;
    updated.textContent = `live · updated ${formatTime(new Date().toISOString()).slice(11)}`;
  };
  const onFilter = () => {
    const next = `#/workflows${query({ status: status.value, type: type.value })}`;
    history.replaceState(null, '', next);
    poller.kick();
  };
  status.addEventListener('change', onFilter);
  type.addEventListener('change', onFilter);

  fill(root,
    startPanel(types),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'Workflows'), updated),
      h('div', { class: 'filters' }, field('Status', status), field('Type', type)),
      h('table', { class: 'list', id: 'workflow-list' },
        h('thead', {}, h('tr', {}, ['Id', 'Type', 'Status', 'Created', 'Updated'].map((c) => h('th', {}, c)))),
        tbody),
      empty));
  const poller = new Poller(REFRESH_MS, refresh).start();
  return () => {
    active = false;
    poller.stop();
  };
}
