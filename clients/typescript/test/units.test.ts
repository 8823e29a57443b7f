/** The client's own logic, without the service: retry decisions, webhook verification, the known codes. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Webhook } from "standardwebhooks";

import { isProblem, PROBLEM_STATUS, ProblemError, WebhookVerificationError, WebhookVerifier } from "../src/index.js";
import { Attempts, DEFAULT_RETRY, type RetryPolicy, retryAfterSeconds } from "../src/retry.js";

function policy(overrides: Partial<RetryPolicy> = {}): RetryPolicy & { clock: { now: number } } {
  const clock = { now: 0 };
  return { ...DEFAULT_RETRY, random: () => 1, now: () => clock.now, ...overrides, clock };
}

const post = (headers: Record<string, string> = {}) =>
  new Request("http://service.test/api/v1/discountcodequote/", { method: "POST", headers });
const refused = new TypeError("fetch failed", { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) });
const dropped = new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });

test("a 503 is retried after its Retry-After, with growing waits, attempts bounded", () => {
  const attempts = new Attempts(policy(), post());
  const unavailable = new Response(null, { status: 503, headers: { "Retry-After": "1" } });
  assert.equal(attempts.afterResponse(unavailable), 1000); // Retry-After above the first backoff (200 ms)
  assert.equal(attempts.afterResponse(new Response(null, { status: 503 })), 400);
  assert.equal(attempts.afterResponse(new Response(null, { status: 503 })), 800);
  assert.equal(attempts.afterResponse(new Response(null, { status: 503 })), undefined); // 4 attempts made
  assert.equal(new Attempts(policy(), post()).afterResponse(new Response(null, { status: 409 })), undefined);
});

test("a Retry-After past the time budget is not waited for", () => {
  const p = policy({ totalMs: 20_000 });
  const attempts = new Attempts(p, post());
  assert.equal(attempts.afterResponse(new Response(null, { status: 429, headers: { "Retry-After": "30" } })), undefined);
  p.clock.now = 19_900;
  assert.equal(new Attempts(p, post()).afterResponse(new Response(null, { status: 429 })), 200);
});

test("a lost answer is retried only where replaying is safe", () => {
  assert.equal(new Attempts(policy(), post()).afterError(dropped), undefined);
  assert.equal(new Attempts(policy(), post({ "Idempotency-Key": "k" })).afterError(dropped), 200);
  assert.equal(new Attempts(policy(), new Request("http://service.test/x", { method: "PUT" })).afterError(dropped), 200);
  assert.equal(new Attempts(policy(), post()).afterError(refused), 200); // nothing was sent
});

test("Retry-After in either form", () => {
  assert.equal(retryAfterSeconds(new Headers({ "Retry-After": "7" })), 7);
  const at = Date.parse("2030-01-01T00:00:10Z");
  assert.equal(retryAfterSeconds(new Headers({ "Retry-After": new Date(at).toUTCString() }), () => at - 10_000), 10);
  assert.equal(retryAfterSeconds(new Headers({ "Retry-After": "soon" })), undefined);
  assert.equal(retryAfterSeconds(new Headers()), undefined);
});

test("a problem is typed by its code when the code is known with its status", () => {
  const known = new ProblemError(409, { type: "t", title: "Used", status: 409, detail: "d", code: "code_already_used" });
  assert.equal(known.known?.code, "code_already_used");
  const later = new ProblemError(409, { type: "t", title: "New", status: 409, detail: "d", code: "a_new_reason" });
  assert.deepEqual([later.known, later.code, later.status], [undefined, "a_new_reason", 409]);
  const cart = new ProblemError(409, {
    type: "t",
    title: "Rejected",
    status: 409,
    detail: "d",
    code: "cart_rejected",
    rejected: [{ code: "SPRING", reason: "code_expired", detail: "ended" }],
  });
  assert.ok(isProblem(cart, "cart_rejected"));
  assert.deepEqual(cart.known.rejected.map((r) => [r.code, r.reason]), [["SPRING", "code_expired"]]);
  const page = new ProblemError(502, "<html>bad gateway</html>");
  assert.deepEqual([page.known, page.problem.detail], [undefined, "<html>bad gateway</html>"]);
});

test("every reason the OpenAPI document names is known here", () => {
  const document = JSON.parse(readFileSync(new URL("../../openapi.json", import.meta.url.replace("/dist/", "/")), "utf8")) as {
    paths: Record<string, Record<string, { responses: Record<string, { description?: string }> }>>;
    components: { schemas: { Problem: { properties: Record<string, unknown> } } };
  };
  const members = new Set(Object.keys(document.components.schemas.Problem.properties));
  const named = new Set<string>();
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!/^[45]/.test(status)) continue;
        for (const match of (response.description ?? "").matchAll(/`([a-z_]+)`/g)) {
          if (match[1] !== undefined && !members.has(match[1])) named.add(match[1]);
        }
      }
    }
  }
  const unknown = [...named].filter((code) => !Object.hasOwn(PROBLEM_STATUS, code));
  assert.deepEqual(unknown, [], "add them to PROBLEM_STATUS in src/errors.ts");
});

const secret = `whsec_${Buffer.from("a webhook secret of 32 bytes!!!!").toString("base64")}`;

function delivery(signingSecret: string, body: string, at = new Date()) {
  const id = "msg_2a8f";
  const signature = new Webhook(signingSecret).sign(id, at, body);
  return { "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": signature };
}

test("a signed delivery verifies; tampered, old or unsigned ones do not", () => {
  const body = JSON.stringify({ type: "usage.used", timestamp: "2026-12-07T10:00:00Z", data: { code: "SPRING" } });
  const verifier = new WebhookVerifier(secret);
  const event = verifier.verify(body, new Headers(delivery(secret, body)));
  assert.deepEqual(event, { id: "msg_2a8f", type: "usage.used", timestamp: "2026-12-07T10:00:00Z", data: { code: "SPRING" } });
  assert.throws(() => verifier.verify(body.replace("SPRING", "SPRUNG"), delivery(secret, body)), WebhookVerificationError);
  const old = new Date(Date.now() - 10 * 60_000);
  assert.throws(() => verifier.verify(body, delivery(secret, body, old)), WebhookVerificationError);
  assert.throws(() => verifier.verify(body, { "webhook-id": "x" }), WebhookVerificationError);
  // During a rotation the service signs with the old and the new secret: either verifies.
  const other = `whsec_${Buffer.from("another secret of 32 bytes!!!!!!").toString("base64")}`;
  const rotated = delivery(other, body);
  rotated["webhook-signature"] = `${rotated["webhook-signature"]} ${delivery(secret, body)["webhook-signature"]}`;
  assert.equal(verifier.verify(body, rotated).type, "usage.used");
});
