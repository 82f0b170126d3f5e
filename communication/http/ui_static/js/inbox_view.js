// Inbox view: the open requests for human input of every application (communication.kit.ask), live over
// GET /v1/inbox/live, each with a link to its workflow and an answer form generated from its JSON schema.
//   #/inbox[?assignee=&application=]

import { apiKey, describeError, post, query, workflowPath } from './api.js';
import { field, fill, formatTime, h, toast } from './dom.js';
import { FetchEventSource } from './fetch_source.js';
import { formInput, schemaFields } from './schema_form.js';

/** The schema with each property's `$ref` into `$defs` inlined (pydantic puts enums there), one level deep. */
function inlineRefs(schema) {
  const defs = schema.$defs || {};
  const props = {};
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const ref = typeof prop.$ref === 'string' ? prop.$ref.replace('#/$defs/', '') : null;
    props[name] = ref && defs[ref] ? { ...defs[ref], ...prop, $ref: undefined } : prop;
  }
  return { ...schema, properties: props };
}

function card(item) {
  const fields = h('div', { class: 'form-grid' }, schemaFields(inlineRefs(item.schema)));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Answer');
  const form = h('form', { class: 'stack answer-form' }, fields, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let answer;
    try {
      answer = formInput(fields);
    } catch (err) {
      toast(err.message, 'error');
      return;
    }
    submit.disabled = true;
    try {
      await post(workflowPath(item.workflow_id, `/requests/${encodeURIComponent(item.topic)}/answer?via=dashboard`),
        answer);
      toast(`answered ${item.workflow_id} · ${item.topic}`);
    } catch (err) {
      toast(`answer refused: ${describeError(err)}`, 'error');
      submit.disabled = false;
    }
  });
  const meta = [
    ['Workflow', h('a', { href: `#/workflows/${encodeURIComponent(item.workflow_id)}`, class: 'inbox-workflow' },
      item.workflow_id)],
    ['Type', item.workflow_name || ''],
    ['Application', item.application || ''],
    ['Topic', item.topic],
    ['Deadline', formatTime(item.deadline)],
    ['Assignees', (item.assignees || []).join(', ') || '—'],
  ];
  return h('article', { class: 'panel inbox-item', dataset: { workflowId: item.workflow_id, topic: item.topic } },
    h('h3', { class: 'inbox-prompt' }, item.prompt || 'Input requested'),
    h('dl', { class: 'inbox-meta' }, meta.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    form);
}

/** Mount the view into `root`; `params` are the hash's query parameters. Returns the unmount function. */
export async function mountInbox(root, params) {
  const assignee = h('input', { id: 'inbox-assignee', type: 'text', placeholder: 'anyone', autocomplete: 'off',
    value: params.get('assignee') || '' });
  const application = h('input', { id: 'inbox-application', type: 'text', placeholder: 'any',
    autocomplete: 'off', value: params.get('application') || '' });
  const list = h('div', { class: 'stack', id: 'inbox-list' });
  const state = h('span', { class: 'muted', id: 'inbox-state' }, 'connecting…');
  const empty = h('p', { class: 'muted', id: 'inbox-empty', hidden: true }, 'No open requests.');
  let source = null;

  const show = (requests) => {
    // Keyed update: a request's card (and what was typed into it) stays while the request is open.
    const existing = new Map([...list.children].map((el) => [el.dataset.key, el]));
    const cards = requests.map((item) => {
      const key = `${item.workflow_id}|${item.topic}|${item.seq}`;
      const el = existing.get(key) || card(item);
      el.dataset.key = key;
      return el;
    });
    list.replaceChildren(...cards);
    empty.hidden = cards.length > 0;
    state.textContent = `live · ${cards.length} open`;
  };
  const connect = () => {
    if (source) source.close();
    const url = `/v1/inbox/live${query({ assignee: assignee.value.trim(), application: application.value.trim() })}`;
    const key = apiKey();
    source = key ? new FetchEventSource(url, { Authorization: `Bearer ${key}` }) : new EventSource(url);
    source.addEventListener('inbox', (e) => show(JSON.parse(e.data).requests));
    source.onerror = () => { state.textContent = 'reconnecting…'; };
  };
  const onFilter = () => {
    history.replaceState(null, '', `#/inbox${query({ assignee: assignee.value.trim(),
      application: application.value.trim() })}`);
    connect();
  };
  assignee.addEventListener('change', onFilter);
  application.addEventListener('change', onFilter);

  fill(root,
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'Inbox'), state),
      h('p', { class: 'muted' }, 'Requests for human input from every application on this database.'),
      h('div', { class: 'filters' }, field('Assignee', assignee), field('Application', application))),
    list, empty);
  connect();
  return () => {
    if (source) source.close();
  };
}
