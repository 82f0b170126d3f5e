// The dashboard's entry point: hash routes → views, the API key dialog, navigation.
//   #/workflows[?status=&type=]   #/workflows/<id>   #/sessions[/<id>]   #/schedules   #/inbox

import { apiKey, forgetTokens, onUnauthorized, setApiKey } from './api.js';
import { fill, h } from './dom.js';
import { mountInbox } from './inbox_view.js';
import { mountSchedules } from './schedules_view.js';
import { mountSessions } from './sessions_view.js';
import { mountWorkflow, workflowNotFound } from './workflow_view.js';
import { forgetTypes, mountWorkflows } from './workflows_view.js';

const main = document.getElementById('main');
let unmount = null;
let generation = 0;
// A workflow id that does not exist yet (a scheduled run being dispatched, a typo) is re-asked for a while.
const NOT_FOUND_RETRIES = 30;
let notFound = { id: null, count: 0 };

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, search] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] || 'workflows', id: parts[1] || null, params: new URLSearchParams(search || '') };
}

async function render() {
  const mine = ++generation;
  if (unmount) unmount();
  unmount = null;
  const route = parseRoute();
  for (const link of document.querySelectorAll('nav a[data-view]')) {
    link.classList.toggle('active', link.dataset.view === route.view);
  }
  fill(main, h('p', { class: 'muted' }, 'loading…'));
  try {
    let cleanup;
    if (route.view === 'workflows' && route.id) cleanup = await mountWorkflow(main, route.id, render);
    else if (route.view === 'workflows') cleanup = await mountWorkflows(main, route.params);
    else if (route.view === 'sessions') cleanup = await mountSessions(main, route.id);
    else if (route.view === 'schedules') cleanup = await mountSchedules(main);
    else if (route.view === 'inbox') cleanup = await mountInbox(main, route.params);
    else {
      location.hash = '#/workflows';
      return;
    }
    if (mine !== generation) cleanup();
    else unmount = cleanup;
  } catch (err) {
    if (mine !== generation) return;
    if (err.code === 'workflow_not_found') {
      if (notFound.id !== route.id) notFound = { id: route.id, count: 0 };
      notFound.count += 1;
      const retrying = notFound.count < NOT_FOUND_RETRIES;
      workflowNotFound(main, route.id, err, retrying);
      if (retrying) setTimeout(() => mine === generation && render(), 1000);
    }
    else if (err.status === 401) fill(main, h('section', { class: 'panel' }, h('h2', {}, 'API key required'),
      h('p', {}, 'This server has API keys configured. ', h('button', { onclick: showKeyDialog }, 'Enter a key'))));
    else fill(main, h('section', { class: 'panel' }, h('h2', {}, 'Something went wrong'),
      h('p', { class: 'error-text' }, `${err.code || 'error'}: ${err.message}`)));
  }
}

// -- API key ----------------------------------------------------------------------------------------------
const dialog = document.getElementById('key-dialog');
const keyInput = document.getElementById('key-input');
const keyReason = document.getElementById('key-reason');
const keyButton = document.getElementById('key-button');

function showKeyState() {
  keyButton.textContent = apiKey() ? 'API key ✓' : 'API key';
  keyButton.title = apiKey() ? 'A key is set for this tab (sessionStorage)' : 'No key set';
}

function showKeyDialog(reason) {
  keyReason.textContent = typeof reason === 'string' ? reason : 'Requests are sent with Authorization: Bearer <key>.';
  keyInput.value = apiKey();
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
}

document.getElementById('key-form').addEventListener('submit', (e) => {
  // method="dialog" closes the dialog; which button was pressed decides what happens to the key.
  const action = e.submitter ? e.submitter.value : 'save';
  if (action === 'cancel') return;
  setApiKey(action === 'clear' ? '' : keyInput.value.trim());
  forgetTokens();
  forgetTypes();
  showKeyState();
  render();
});
keyButton.addEventListener('click', () => showKeyDialog());
onUnauthorized((err) => {
  const reason = apiKey()
    ? `The server refused the key (${err.code}). Enter another one.`
    : 'This server requires an API key.';
  showKeyDialog(reason);
});

window.addEventListener('hashchange', render);
showKeyState();
render();
