// Schedules view: every schedule with its status, pause / resume / trigger buttons, and a small create form.

import { describeError, get, post, request } from './api.js';
import { Poller, field, fill, formatTime, h, toast } from './dom.js';
import { workflowTypes } from './workflows_view.js';

const REFRESH_MS = 2000;

function scheduleRow(s, act) {
  const buttons = s.managed === false ? h('span', { class: 'muted' }, 'read-only') : [
    s.status === 'PAUSED'
      ? h('button', { class: 'small', 'data-action': 'resume', onclick: () => act(s.name, 'resume') }, 'Resume')
      : h('button', { class: 'small', 'data-action': 'pause', onclick: () => act(s.name, 'pause') }, 'Pause'),
    h('button', { class: 'small', 'data-action': 'trigger', onclick: () => act(s.name, 'trigger') }, 'Trigger'),
    h('button', { class: 'small danger', 'data-action': 'delete', onclick: () => act(s.name, 'delete') }, 'Delete'),
  ];
  const when = s.interval_minutes ? `every ${s.interval_minutes} min` : `${s.cron} (${s.timezone})`;
  return h('tr', { dataset: { schedule: s.name } },
    h('td', { 'data-label': 'Name' }, s.name),
    h('td', { 'data-label': 'Type' }, s.type),
    h('td', { 'data-label': 'When' }, when),
    h('td', { 'data-label': 'Status' }, h('span', { class: `badge status-${s.status.toLowerCase()}` }, s.status),
      s.note ? h('small', { class: 'muted' }, ` ${s.note}`) : null),
    h('td', { 'data-label': 'Last fired' }, formatTime(s.last_fired_at)),
    h('td', { 'data-label': 'Actions', class: 'actions' }, buttons));
}

async function createForm(onCreated) {
  const types = await workflowTypes();
  const name = h('input', { id: 'schedule-name', type: 'text', required: true, placeholder: 'nightly-report', autocomplete: 'off' });
  const type = h('select', { id: 'schedule-type' }, types.map((t) => h('option', { value: t.type }, t.type)));
  const cron = h('input', { id: 'schedule-cron', type: 'text', placeholder: '*/5 * * * *', autocomplete: 'off' });
  const interval = h('input', { id: 'schedule-interval', type: 'number', min: 1, max: 1440, placeholder: 'minutes' });
  const input = h('textarea', { id: 'schedule-input', rows: 2, spellcheck: 'false', value: '{}' });
  const paused = h('input', { id: 'schedule-paused', type: 'checkbox' });
  const form = h('form', { id: 'schedule-form', class: 'stack' },
    h('div', { class: 'form-grid' }, field('Name', name), field('Type', type), field('Cron', cron, 'or an interval:'),
      field('Interval (minutes)', interval), field('Create paused', paused)),
    field('Input (JSON)', input),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create schedule')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const body = { name: name.value.trim(), type: type.value, input: JSON.parse(input.value || '{}'), paused: paused.checked };
      if (cron.value.trim()) body.cron = cron.value.trim();
      if (interval.value) body.interval_minutes = Number(interval.value);
      await post('/v1/schedules', body);
      toast(`created ${body.name}`);
      onCreated();
    } catch (err) {
      toast(`create failed: ${describeError(err)}`, 'error');
    }
  });
  return h('details', { class: 'panel', id: 'schedule-create' }, h('summary', {}, h('h3', {}, 'Create a schedule')), form);
}

/** Mount the schedules view. Returns the unmount function. */
export async function mountSchedules(root) {
  let active = true;
  const rows = h('tbody', { id: 'schedule-rows' });
  const empty = h('p', { class: 'muted', hidden: true }, 'No schedules yet.');
  const lastRun = h('p', { class: 'muted', id: 'schedule-last-run' });
  const refresh = async () => {
    const data = await get('/v1/schedules');
    if (active) {
      rows.replaceChildren(...data.schedules.map((s) => scheduleRow(s, act)));
      empty.hidden = data.schedules.length > 0;
    }
  };
  const poller = new Poller(REFRESH_MS, refresh);
  const act = async (name, action) => {
    const path = `/v1/schedules/${encodeURIComponent(name)}`;
    try {
      if (action === 'delete') {
        if (!confirm(`Delete schedule ${name}?`)) return;
        await request('DELETE', path);
      } else {
        const answer = await post(`${path}/${action}`);
        if (action === 'trigger' && answer.runs && answer.runs[0]) {
          const run = answer.runs[0];
          fill(lastRun, `triggered ${name}: run `,
            h('a', { href: `#/workflows/${encodeURIComponent(run.workflow_id)}` }, run.workflow_id));
        }
      }
      toast(`${action} ${name}: done`);
      poller.kick();
    } catch (err) {
      toast(`${action} failed: ${describeError(err)}`, 'error');
    }
  };
  fill(root,
    h('section', { class: 'panel' },
      h('h2', {}, 'Schedules'),
      h('table', { class: 'list', id: 'schedule-list' },
        h('thead', {}, h('tr', {}, ['Name', 'Type', 'When', 'Status', 'Last fired', ''].map((c) => h('th', {}, c)))),
        rows),
      empty, lastRun),
    await createForm(() => poller.kick()));
  poller.start();
  return () => {
    active = false;
    poller.stop();
  };
}
