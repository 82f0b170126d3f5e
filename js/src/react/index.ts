/**
 * React hooks over dbos-comm (`import { useWorkflow } from "dbos-comm/react"`). React is an optional peer
 * dependency: only this entry point imports it.
 *
 * ```tsx
 * <DbosCommProvider client={new Client({ baseUrl: "/comm" })}>
 *   <Progress id="demo-1" />
 * </DbosCommProvider>
 * function Progress({ id }) {
 *   const { status, streams, send } = useWorkflow(id);
 *   ...
 * }
 * ```
 */
import { createContext, createElement, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import type { Client } from "../client.js";
import type { LiveOptions } from "../live.js";
import type { FeedEnd, LiveEnd, SendResult, StreamItem, WorkflowStatus, WorkflowTypeMap } from "../types.js";

const ClientContext = createContext<Client<WorkflowTypeMap> | null>(null);

/** Makes `client` the one the hooks below use. */
export function DbosCommProvider(props: { client: Client<any>; children?: ReactNode }): ReactNode {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** Options every hook takes: a client (default: the provider's) and the live reads' options. */
export interface HookOptions extends Omit<LiveOptions, "signal"> {
  client?: Client<any>;
}

function useClient(options: HookOptions | undefined): Client<WorkflowTypeMap> {
  const provided = useContext(ClientContext); // called on every render: hooks must not be conditional
  const client = options?.client ?? provided;
  if (!client) throw new Error("dbos-comm/react: wrap the tree in <DbosCommProvider client={...}> or pass { client }");
  return client;
}

function liveOptions(options: HookOptions | undefined): Omit<LiveOptions, "signal"> {
  const out: Omit<LiveOptions, "signal"> = {};
  if (options?.persist !== undefined) out.persist = options.persist;
  if (options?.pauseWhenHidden !== undefined) out.pauseWhenHidden = options.pauseWhenHidden;
  if (options?.retry !== undefined) out.retry = options.retry;
  return out;
}

/** What {@link useWorkflow} shows. */
export interface WorkflowView<O = unknown> {
  /** The latest status (`undefined` until the first frame). */
  status: WorkflowStatus | undefined;
  /** Every event's latest value and version. */
  events: Record<string, { value: unknown; version: number }>;
  /** Every stream's values so far, in offset order. */
  streams: Record<string, unknown[]>;
  /** The outcome once the workflow ended. */
  result: { status: WorkflowStatus; output?: O; error?: unknown } | undefined;
  /** A failure of the live read (after its reconnects), if any. */
  error: unknown;
  /** Send a message to the workflow (exactly once per idempotency key). */
  send: (topic: string, message: unknown, options?: { idempotencyKey?: string }) => Promise<SendResult>;
}

/**
 * Follow workflow `id` live on one connection (the feed): status, events, streams, then the result.
 * `id` null/undefined: nothing is read.
 */
export function useWorkflow<O = unknown>(
  id: string | null | undefined,
  options?: HookOptions & { events?: string[]; streams?: string[] },
): WorkflowView<O> {
  const client = useClient(options);
  const [status, setStatus] = useState<WorkflowStatus | undefined>(undefined);
  const [events, setEvents] = useState<WorkflowView["events"]>({});
  const [streams, setStreams] = useState<WorkflowView["streams"]>({});
  const [result, setResult] = useState<WorkflowView<O>["result"]>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const eventKeys = options?.events?.join(",");
  const streamKeys = options?.streams?.join(",");
  const persist = options?.persist;
  useEffect(() => {
    setStatus(undefined);
    setEvents({});
    setStreams({});
    setResult(undefined);
    setError(undefined);
    if (!id) return undefined;
    const feed = client.workflow(id).feed({
      ...liveOptions(options),
      ...(eventKeys !== undefined ? { events: eventKeys.split(",") } : {}),
      ...(streamKeys !== undefined ? { streams: streamKeys.split(",") } : {}),
      onStatus: (s) => setStatus(s),
      onEvent: (frame) => setEvents((old) => ({ ...old, [frame.key]: { value: frame.value, version: frame.version } })),
      onStream: (frame) => setStreams((old) => ({ ...old, [frame.key]: [...(old[frame.key] ?? []), frame.value] })),
      onEnd: (end: FeedEnd) => {
        setStatus(end.status);
        setResult({ status: end.status, output: end.output as O, error: end.error });
      },
      onError: setError,
    });
    return () => feed.close();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- options are read once per id/filter/persist
  }, [client, id, eventKeys, streamKeys, persist]);
  const send = useCallback(
    (topic: string, message: unknown, sendOptions?: { idempotencyKey?: string }) => {
      if (!id) return Promise.reject(new Error("useWorkflow: no workflow id"));
      return client.workflow(id).send(topic, message, sendOptions);
    },
    [client, id],
  );
  return { status, events, streams, result, error, send };
}

/** What {@link useStream} shows. */
export interface StreamView<V = unknown> {
  /** Values received so far with their offsets. */
  items: StreamItem<V>[];
  /** The values alone. */
  values: V[];
  /** How the stream ended, once it did. */
  end: LiveEnd | undefined;
  error: unknown;
}

/** Stream `key` of workflow `id` live from `offset` (default 0). */
export function useStream<V = unknown>(
  id: string | null | undefined,
  key: string,
  options?: HookOptions & { offset?: number },
): StreamView<V> {
  const client = useClient(options);
  const [items, setItems] = useState<StreamItem<V>[]>([]);
  const [end, setEnd] = useState<LiveEnd | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const offset = options?.offset;
  const persist = options?.persist;
  useEffect(() => {
    setItems([]);
    setEnd(undefined);
    setError(undefined);
    if (!id) return undefined;
    const read = client
      .workflow(id)
      .stream<V>(key, { ...liveOptions(options), ...(offset !== undefined ? { offset } : {}) });
    const stop = read.subscribe({ onItem: (item) => setItems((old) => [...old, item]), onEnd: setEnd, onError: setError });
    return stop;
    // eslint-disable-next-line react-hooks/exhaustive-deps -- options are read once per id/key/offset/persist
  }, [client, id, key, offset, persist]);
  return { items, values: items.map((i) => i.value), end, error };
}

/** What {@link useEvent} shows. */
export interface EventView<V = unknown> {
  /** The latest value (`undefined` until set). */
  value: V | undefined;
  /** Its version (`undefined` until set). */
  version: number | undefined;
  /** Whether the key has been set. */
  isSet: boolean;
  /** The watch's end (the workflow finished), once it came. */
  end: LiveEnd | undefined;
  error: unknown;
}

/** Event `key` of workflow `id`, live: its latest value, updated on every change until the workflow ends. */
export function useEvent<V = unknown>(id: string | null | undefined, key: string, options?: HookOptions): EventView<V> {
  const client = useClient(options);
  const [state, setState] = useState<{ value: V | undefined; version: number | undefined }>({
    value: undefined,
    version: undefined,
  });
  const [end, setEnd] = useState<LiveEnd | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const persist = options?.persist;
  useEffect(() => {
    setState({ value: undefined, version: undefined });
    setEnd(undefined);
    setError(undefined);
    if (!id) return undefined;
    const read = client.workflow(id).watchEvents<V>({ ...liveOptions(options), keys: [key] });
    return read.subscribe({
      onItem: (event) => setState({ value: event.value, version: event.version }),
      onEnd: setEnd,
      onError: setError,
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps -- options are read once per id/key/persist
  }, [client, id, key, persist]);
  return { ...state, isSet: state.version !== undefined, end, error };
}
