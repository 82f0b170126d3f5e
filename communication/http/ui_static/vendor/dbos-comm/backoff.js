// generated from js/ by .ci/gen_dashboard_client.py: do not edit
/** Reconnect and retry timing: exponential backoff with jitter, and abortable sleeps. */
export const DEFAULT_RETRY = { maxAttempts: 12, initialDelayMs: 250, maxDelayMs: 5000 };
/**
 * The delay before retry number `attempt` (0-based): doubling from `initialDelayMs` up to `maxDelayMs`, then a
 * random share of 50–100 % of it, so many clients cut off by one server restart do not reconnect in lockstep.
 */
export function backoffDelay(attempt, options = {}) {
    const { initialDelayMs, maxDelayMs } = { ...DEFAULT_RETRY, ...options };
    const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
    return base / 2 + Math.random() * (base / 2);
}
/** Resolve after `ms`, or reject with the signal's reason once it aborts. */
export function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted) {
            reject(signal.reason);
            return;
        }
        const timer = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(timer);
            reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}
