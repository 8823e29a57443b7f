/**
 * Retries as a `fetch` under openapi-fetch: the very request is sent again, its headers and so its
 * Idempotency-Key included, so the service replays its first answer instead of acting twice.
 *
 * Retried (the same rules as the Python client's, clients/python/README.md says why): a 503 and a
 * 429 after their `Retry-After` when it fits in the time left (else the error is thrown at once);
 * a connection that could not be made (nothing was sent); a timeout or a dropped connection only
 * for a request that may be replayed (GET, HEAD, OPTIONS, PUT, DELETE, or one with an
 * Idempotency-Key). Waits grow exponentially with full jitter, never shorter than `Retry-After`;
 * `attempts` and `totalMs` bound the whole.
 */
import { TimeoutError, TransportError } from "./errors.js";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** No retry starts later than this after the first attempt. */
  totalMs: number;
  /** The first wait's ceiling; it doubles with each retry, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** One attempt's limit. */
  timeoutMs: number;
  random: () => number;
  now: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  totalMs: 20_000,
  backoffMs: 200,
  maxBackoffMs: 5_000,
  timeoutMs: 10_000,
  random: Math.random,
  now: () => performance.now(),
};

const REPLAYABLE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRIED_STATUSES = new Set([429, 503]);
/** Errors of a connection that was never made: nothing reached the service. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);

export function retryAfterSeconds(headers: Headers, now: () => number = Date.now): number | undefined {
  const value = headers.get("Retry-After")?.trim();
  if (value === undefined || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now()) / 1000);
}

export function replayable(request: Request): boolean {
  return REPLAYABLE_METHODS.has(request.method) || request.headers.has("Idempotency-Key");
}

function notSent(error: unknown): boolean {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === "string" && NOT_SENT_CODES.has(cause.code);
}

/** One request's retries: after each failure, how long to wait before the next attempt, or undefined. */
export class Attempts {
  made = 1;
  private readonly deadline: number;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly request: Request,
  ) {
    this.deadline = policy.now() + policy.totalMs;
  }

  afterResponse(response: Response): number | undefined {
    if (!RETRIED_STATUSES.has(response.status)) return undefined;
    const seconds = retryAfterSeconds(response.headers);
    return this.next(seconds === undefined ? 0 : seconds * 1000);
  }

  afterError(error: unknown): number | undefined {
    return notSent(error) || replayable(this.request) ? this.next(0) : undefined;
  }

  private next(atLeastMs: number): number | undefined {
    if (this.made >= this.policy.attempts) return undefined;
    const ceiling = Math.min(this.policy.maxBackoffMs, this.policy.backoffMs * 2 ** (this.made - 1));
    const wait = Math.max(atLeastMs, this.policy.random() * ceiling);
    if (this.policy.now() + wait > this.deadline) return undefined;
    this.made += 1;
    return wait;
  }
}

function transportError(error: unknown): TransportError {
  const timedOut = error instanceof DOMException && error.name === "TimeoutError";
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  const message = `${error instanceof Error ? error.message : String(error)}${cause}`;
  return timedOut ? new TimeoutError(message, { cause: error }) : new TransportError(message, { cause: error });
}

export function retryingFetch(policy: RetryPolicy, inner: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const attempts = new Attempts(policy, request);
    for (;;) {
      let wait: number | undefined;
      try {
        const signal = AbortSignal.any([request.signal, AbortSignal.timeout(policy.timeoutMs)]);
        const response = await inner(request.clone(), { signal });
        wait = attempts.afterResponse(response);
        if (wait === undefined) return response;
        await response.body?.cancel();
      } catch (error) {
        wait = request.signal.aborted ? undefined : attempts.afterError(error);
        if (wait === undefined) throw transportError(error);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };
}
