/**
 * The client: openapi-fetch over the generated `paths`, with the bearer token, an Idempotency-Key on
 * every operation that takes one (generated/idempotent.ts, from the OpenAPI document), the retries
 * of retry.ts, and every non-2xx answer thrown as a ProblemError.
 *
 *   const api = createDiscountsClient({ baseUrl, token });
 *   const use = await call(api.POST("/api/v1/discountcodeusage/", { body: { code, user, amount: "120.00" } }));
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import { ProblemError } from "./errors.js";
import { IDEMPOTENT_OPERATIONS } from "./generated/idempotent.js";
import type { paths } from "./generated/schema.js";
import { DEFAULT_RETRY, type RetryPolicy, retryAfterSeconds, retryingFetch } from "./retry.js";

/** A token, or a function that returns a current one (called for each request: cache it there). */
export type TokenSource = string | (() => string | Promise<string>);

export interface DiscountsClientOptions {
  /** The service's address, e.g. `https://discounts.example` (the paths carry `/api/v1/…`). */
  baseUrl: string;
  token: TokenSource;
  retry?: Partial<RetryPolicy>;
  /** The fetch the retries wrap (the global one by default). */
  fetch?: typeof fetch;
}

export type DiscountsClient = Client<paths>;

export function createDiscountsClient(options: DiscountsClientOptions): DiscountsClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    fetch: retryingFetch(policy, options.fetch ?? globalThis.fetch),
  });
  client.use(authenticated(options.token), idempotent, problemsThrown);
  return client;
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

function authenticated(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${typeof token === "function" ? await token() : token}`);
      return request;
    },
  };
}

/** A key made once per call, before the retries: each attempt carries the same one. */
const idempotent: Middleware = {
  onRequest({ request, schemaPath }) {
    if (IDEMPOTENT_OPERATIONS.has(`${request.method} ${schemaPath}`) && !request.headers.has("Idempotency-Key")) {
      request.headers.set("Idempotency-Key", newIdempotencyKey());
    }
    return request;
  },
};

const problemsThrown: Middleware = {
  async onResponse({ response }) {
    if (response.ok) return undefined;
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (a proxy's error page): kept as the detail
    }
    throw new ProblemError(response.status, body, retryAfterSeconds(response.headers));
  },
};

/** The data of a 2xx (errors were thrown already): `await call(api.GET(...))`. */
export async function call<Data>(pending: Promise<{ data?: Data; response: Response }>): Promise<Data> {
  const { data } = await pending;
  return data as Data;
}
