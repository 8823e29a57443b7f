/**
 * Every problem detail the service answers, as a typed error; a union discriminated by `code`.
 *
 *   DiscountsError
 *   ├── TransportError     no answer, even after the retries (the request may or may not have been applied)
 *   │   └── TimeoutError
 *   └── ProblemError       an RFC 9457 answer: `status`, `problem` (as sent), `known` (typed by its `code`)
 *
 * `known` is set when the `code` is one this version knows: `switch (error.known?.code)` narrows
 * it to that code's members (`errors` of a `validation_error`, …). A code added to the API later
 * still arrives as a ProblemError with `problem.code`; `isProblem(error, "code_already_used")` is
 * the short test.
 */
import type { components } from "./generated/schema.js";

export type Problem = components["schemas"]["Problem"];
export type FieldError = components["schemas"]["FieldError"];
/** A code of a cart that would be refused: `code` (upper-cased), `reason` (a problem code, `not_applicable`, `combination_disallowed`), `detail`. */
export type RejectedCode = components["schemas"]["RejectedCode"];

/** The stable reasons (API.md), each with the status it comes with. */
export const PROBLEM_STATUS = {
  unauthenticated: 401,
  forbidden: 403,
  brand_mismatch: 403,
  user_mismatch: 403,
  not_in_group: 403,
  not_found: 404,
  code_not_found: 404,
  usage_not_found: 404,
  rule_not_found: 404,
  brand_not_found: 404,
  user_not_found: 404,
  batch_not_found: 404,
  invalid_link: 404,
  cart_not_found: 404,
  webhook_not_found: 404,
  code_exists: 409,
  code_already_used: 409,
  code_not_active: 409,
  code_exhausted: 409,
  idempotency_in_progress: 409,
  batch_not_ready: 409,
  cart_rejected: 409,
  code_expired: 410,
  hold_expired: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_error: 422,
  min_amount_not_met: 422,
  currency_mismatch: 422,
  lines_required: 422,
  idempotency_key_reused: 422,
  rate_limited: 429,
  unavailable: 503,
  not_ready: 503,
} as const;

/** Codes that also come with a second status: `brand_not_found` is 404 for a brand the path names, 422 for one a body names. */
export const ALSO_STATUS = { brand_not_found: 422 } as const;

export type ProblemCode = keyof typeof PROBLEM_STATUS;
type StatusOf<C extends ProblemCode> =
  | (typeof PROBLEM_STATUS)[C]
  | (C extends keyof typeof ALSO_STATUS ? (typeof ALSO_STATUS)[C] : never);

/** Members a problem has beside the common ones, by code. */
interface ProblemMembers {
  validation_error: { errors: FieldError[] };
  /** A cart redemption is all or nothing: these codes would be refused, so none was used or held. */
  cart_rejected: { rejected: RejectedCode[] };
}

/** The members some codes always carry (`errors`, `rejected`): optional for every other code. */
type MemberName = { [C in keyof ProblemMembers]: keyof ProblemMembers[C] }[keyof ProblemMembers];

/** One member per code: `switch (known.code)` narrows to it. */
export type KnownProblem = {
  [C in ProblemCode]: Omit<Problem, "code" | "status" | MemberName> & {
    code: C;
    status: StatusOf<C>;
  } & (C extends keyof ProblemMembers ? ProblemMembers[C] : Pick<Problem, MemberName>);
}[ProblemCode];

function comesWith(code: ProblemCode, status: number): boolean {
  const also = (ALSO_STATUS as Record<string, number>)[code];
  return PROBLEM_STATUS[code] === status || also === status;
}

export class DiscountsError extends Error {
  override name = "DiscountsError";
}

/** No answer came, even after the retries. Sending the same request again with the same Idempotency-Key is safe. */
export class TransportError extends DiscountsError {
  override name = "TransportError";
}

export class TimeoutError extends TransportError {
  override name = "TimeoutError";
}

export function isKnownCode(code: unknown): code is ProblemCode {
  return typeof code === "string" && Object.hasOwn(PROBLEM_STATUS, code);
}

export class ProblemError extends DiscountsError {
  override name = "ProblemError";
  readonly status: number;
  readonly problem: Problem;
  readonly known: KnownProblem | undefined;
  /** Seconds the service asked to wait (`Retry-After`), on a 429 or 503. */
  readonly retryAfter: number | undefined;

  constructor(status: number, body: unknown, retryAfter?: number) {
    const fields = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    const problem: Problem = {
      type: "about:blank",
      title: "",
      detail: typeof body === "string" ? body.slice(0, 500) : "",
      code: "",
      ...fields,
      status,
    } as Problem;
    super(`${status} ${problem.code || "error"}: ${problem.detail || problem.title}`);
    this.status = status;
    this.problem = problem;
    this.known = isKnownCode(problem.code) && comesWith(problem.code, status) ? (problem as KnownProblem) : undefined;
    this.retryAfter = retryAfter;
  }

  get code(): string {
    return this.problem.code;
  }
}

/** `error` is the service's answer with this `code`; its `known` problem is typed for it. */
export function isProblem<C extends ProblemCode>(
  error: unknown,
  code: C,
): error is ProblemError & { known: Extract<KnownProblem, { code: C }> } {
  return error instanceof ProblemError && error.known?.code === code;
}
