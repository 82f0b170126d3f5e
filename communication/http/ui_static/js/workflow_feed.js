// One workflow's live view data over one connection: the dbos-comm package's feed (vendored, generated from js/).
// The package reconnects and resumes from its cursor by itself; this module adds what the dashboard shows about
// the connection (connecting | live | reconnecting | ended | failed, and how often it reconnected), seen through the
// fetch the package is given: a feed response that opens is "live", its body ending before the feed's end is a drop.

import { Client } from '../vendor/dbos-comm/index.js';
import { apiKey, post, workflowPath } from './api.js';

/**
 * A client for the live reads of the dashboard. With an API key set, reads carry read tokens minted with it
 * (`POST .../read-token`; the package asks again when the server refuses one), so the key itself never goes into
 * a live request's URL; without a key, reads go out as they are.
 */
function feedClient(observedFetch) {
  const options = { baseUrl: location.origin, fetch: observedFetch };
  if (apiKey()) options.getToken = (workflowId) => post(workflowPath(workflowId, '/read-token'));
  return new Client(options);
}

/**
 * Open `workflowId`'s feed. `handlers` are the package's (onStatus, onEvent, onStream, onEnd, onError) plus
 * `onState(state, reconnects)` (connecting | live | reconnecting | ended | failed). Returns `{close()}`.
 */
export function openFeed(workflowId, handlers) {
  let state = 'connecting';
  let reconnects = 0;
  let dropped = false;
  const setState = (next) => {
    if (state === 'ended' || state === next) return;
    state = next;
    if (handlers.onState) handlers.onState(state, reconnects);
  };

  const markDropped = () => {
    dropped = true;
    setState('reconnecting');
  };

  async function observedFetch(url, init) {
    const isFeed = new URL(url, location.href).pathname.endsWith('/feed');
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      if (isFeed && !(init && init.signal && init.signal.aborted)) markDropped();
      throw err;
    }
    if (!isFeed || !response.ok || response.status === 204 || !response.body) {
      if (isFeed && !response.ok) markDropped();
      return response;
    }
    if (dropped) reconnects += 1;
    dropped = false;
    setState('live');
    // Watch the body: when it ends or breaks while the feed is not over, the connection dropped.
    const reader = response.body.getReader();
    const body = new ReadableStream({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            if (!(init && init.signal && init.signal.aborted)) markDropped();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          if (!(init && init.signal && init.signal.aborted)) markDropped();
          controller.error(err);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }

  const read = feedClient(observedFetch).workflow(workflowId).feed({
    pauseWhenHidden: false, // a dashboard left in a background tab stays current
    onStatus: handlers.onStatus,
    onEvent: handlers.onEvent,
    onStream: handlers.onStream,
    onEnd: (end) => {
      setState('ended');
      if (handlers.onEnd) handlers.onEnd(end);
    },
    onError: (err) => {
      // The package gave up (reconnects exhausted, or an answer such as 404 that no retry changes).
      console.warn('feed failed:', err && err.message);
      setState('failed');
      if (handlers.onError) handlers.onError(err);
    },
  });
  if (handlers.onState) handlers.onState(state, reconnects);
  return {
    close: () => {
      state = 'ended';
      read.close();
    },
  };
}
