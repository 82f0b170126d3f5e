// The workflow view's controls: approve / reject a waiting approval, send a message (topic + JSON),
// cancel, resume, fork from a step. Each calls one endpoint and reports the answer.

import { describeError, post, workflowPath } from './api.js';
import { TERMINAL, field, h, toast } from './dom.js';

const WAITING_FOR_APPROVAL = 'waiting_for_approval';
const RESUMABLE = new Set(['CANCELLED', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED']);

/** The topic a workflow listens on, from its input (messaging: topic; pipeline: approval_topic). */
function approvalTopic(info) {
  const input = info && info.input && typeof info.input === 'object' ? info.input : {};
  return input.topic || input.approval_topic || 'notification';
}

/**
 * Build the controls of workflow `workflowId`.
 * `onChange()` is called after an action changed the workflow (the view refreshes);
 * `onResumed()` after a resume (the view restarts its live tails).
 */
export function workflowActions(workflowId, { onChange, onResumed }) {
  let info = null;
  const run = async (label, fn) => {
    try {
      await fn();
    } catch (err) {
      toast(`${label} failed: ${describeError(err)}`, 'error');
    }
  };

  // -- approval -------------------------------------------------------------------------------------------
  const approvalMessage = h('input', { id: 'approval-message', type: 'text', placeholder: 'Optional note or reason' });
  const decide = (approved) => run(approved ? 'approve' : 'reject', async () => {
    const text = approvalMessage.value.trim() || `${approved ? 'Approved' : 'Rejected'} from the dashboard`;
    const body = { topic: approvalTopic(info), message: { approved, message: text } };
    const answer = await post(workflowPath(workflowId, '/messages'), body);
    approvalOutcome.textContent = `${approved ? 'approval' : 'rejection'} ${answer.outcome}`;
    onChange();
  });
  const approvalOutcome = h('span', { class: 'muted', id: 'approval-outcome' });
  const approval = h('section', { class: 'panel approval', id: 'approval', hidden: true },
    h('h3', {}, 'Waiting for approval'),
    field('Message', approvalMessage),
    h('div', { class: 'actions' },
      h('button', { id: 'btn-approve', class: 'primary', onclick: () => decide(true) }, 'Approve'),
      h('button', { id: 'btn-reject', class: 'danger', onclick: () => decide(false) }, 'Reject'),
      approvalOutcome));

  // -- send a message -------------------------------------------------------------------------------------
  const topic = h('input', { id: 'msg-topic', type: 'text', value: 'notification', autocomplete: 'off' });
  const body = h('textarea', { id: 'msg-body', rows: 3, spellcheck: 'false', value: '{"approved": true, "message": "hi"}' });
  const idem = h('input', { id: 'msg-key', type: 'text', placeholder: '(none)', autocomplete: 'off' });
  const sendOutcome = h('span', { class: 'muted', id: 'msg-outcome' });
  const send = h('form', { id: 'msg-form', class: 'stack' },
    h('div', { class: 'form-grid' }, field('Topic', topic), field('Idempotency key', idem, 'Optional: exactly-once.')),
    field('Message (JSON)', body),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'btn-send' }, 'Send message'), sendOutcome));
  send.addEventListener('submit', (e) => {
    e.preventDefault();
    let message;
    try {
      message = JSON.parse(body.value);
    } catch (err) {
      toast(`message is not valid JSON: ${err.message}`, 'error');
      return;
    }
    run('send', async () => {
      const request = { topic: topic.value.trim(), message };
      if (idem.value.trim()) request.idempotency_key = idem.value.trim();
      const answer = await post(workflowPath(workflowId, '/messages'), request);
      sendOutcome.textContent = `${answer.outcome} at ${new Date().toLocaleTimeString()}`;
      onChange();
    });
  });

  // -- lifecycle ------------------------------------------------------------------------------------------
  const cancel = h('button', { id: 'btn-cancel', class: 'danger', onclick: () => run('cancel', async () => {
    await post(workflowPath(workflowId, '/cancel'));
    toast('cancelled');
    onChange();
  }) }, 'Cancel');
  const resume = h('button', { id: 'btn-resume', onclick: () => run('resume', async () => {
    await post(workflowPath(workflowId, '/resume'));
    toast('resumed');
    onResumed();
  }) }, 'Resume');
  const forkStep = h('input', { id: 'fork-step', type: 'number', min: 1, step: 1, value: 1 });
  const fork = h('button', { id: 'btn-fork', onclick: () => run('fork', async () => {
    const answer = await post(workflowPath(workflowId, '/fork'), { start_step: Number(forkStep.value) });
    toast(`forked as ${answer.workflow_id}`);
    location.hash = `#/workflows/${encodeURIComponent(answer.workflow_id)}`;
  }) }, 'Fork');
  const lifecycle = h('div', { class: 'actions lifecycle' }, cancel, resume,
    h('span', { class: 'inline-field' }, h('label', { for: 'fork-step' }, 'from step'), forkStep, fork));

  const element = h('div', { class: 'stack' },
    approval,
    h('section', { class: 'panel' }, h('h3', {}, 'Control'), lifecycle),
    h('details', { class: 'panel', id: 'msg-panel' }, h('summary', {}, h('h3', {}, 'Send a message')), send));

  let topicTouched = false;
  topic.addEventListener('input', () => {
    topicTouched = true;
  });

  /** Show what applies to the workflow's current status and events. */
  function update(nextInfo, events) {
    info = nextInfo;
    const finished = TERMINAL.has(info.status);
    const waiting = !finished && events.status && events.status.value === WAITING_FOR_APPROVAL;
    approval.hidden = !waiting;
    cancel.disabled = finished;
    resume.disabled = !RESUMABLE.has(info.status);
    if (!topicTouched) topic.value = approvalTopic(info);
  }

  return { element, update };
}
