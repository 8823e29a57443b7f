export { call, createDiscountsClient, newIdempotencyKey } from "./client.js";
export type { DiscountsClient, DiscountsClientOptions, TokenSource } from "./client.js";
export {
  DiscountsError,
  isKnownCode,
  isProblem,
  PROBLEM_STATUS,
  ProblemError,
  TimeoutError,
  TransportError,
} from "./errors.js";
export type { FieldError, KnownProblem, Problem, ProblemCode, RejectedCode } from "./errors.js";
export type { components, operations, paths } from "./generated/schema.js";
export { DEFAULT_RETRY, retryingFetch } from "./retry.js";
export type { RetryPolicy } from "./retry.js";
export { WebhookVerificationError, WebhookVerifier } from "./webhooks.js";
export type { WebhookEvent } from "./webhooks.js";
