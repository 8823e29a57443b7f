/**
 * The TypeScript client against the live service that tests/clients/test_typescript_client.py
 * starts (it passes the address and tokens in the environment): the README's tour, the errors,
 * and a retry after a reply lost on the way (through a proxy that drops it once).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { call, createDiscountsClient, isProblem, ProblemError } from "../src/index.js";

const url = process.env.DISCOUNTS_URL ?? "";
const tokens = JSON.parse(process.env.DISCOUNTS_TOKENS ?? "{}") as Record<string, string>;
const live = { skip: url === "" ? "no live service (run through tests/clients/test_typescript_client.py)" : false };
const validity = "2099-12-31T23:59:59Z";

function client(who: string, baseUrl = url) {
  const token = tokens[who];
  assert.ok(token, `no token for ${who}`);
  return createDiscountsClient({ baseUrl, token });
}

async function problemOf(pending: Promise<unknown>): Promise<ProblemError> {
  const error = await pending.then(
    () => assert.fail("expected a problem"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ProblemError, String(error));
  return error;
}

test("the tour", live, async () => {
  const service = client("service");
  const brand = client("brand");
  const ann = client("ann");
  const bob = client("bob");

  // The directory.
  const acme = await call(
    service.PUT("/api/v1/brands/{brand_id}/", {
      params: { path: { brand_id: "ts-brand" } },
      body: { name: "TS", email: "promo@ts.example" },
    }),
  );
  assert.equal(acme.id, "ts-brand");
  await call(
    service.PUT("/api/v1/users/{user_id}/", {
      params: { path: { user_id: "u-ts-ann" } },
      body: { email: "ann@ts.example", group: "individual" },
    }),
  );

  // A code, fetched in any case, quoted and redeemed.
  const created = await call(
    brand.POST("/api/v1/discountcode/", {
      body: { id: "TSSPRING", rule: { brand: "ts-brand", discount: 10 }, validity },
    }),
  );
  assert.equal(created.id, "TSSPRING");
  const view = await call(brand.GET("/api/v1/discountcode/{id}/", { params: { path: { id: "tsspring" } } }));
  assert.deepEqual([view.id, view.hash, view.expired], ["TSSPRING", created.hash, false]);
  const order = { code: "tsspring", user: "u-ts-ann", amount: "120.00" };
  const quote = await call(ann.POST("/api/v1/discountcodequote/", { body: order }));
  assert.deepEqual([quote.discount_amount, quote.amount_to_pay], ["12.00", "108.00"]);
  const used = await call(ann.POST("/api/v1/discountcodeusage/", { body: order }));
  assert.deepEqual([used.status, used.code, used.amount_to_pay], ["used", "TSSPRING", "108.00"]);

  // The 409, typed by its code.
  const again = await problemOf(ann.POST("/api/v1/discountcodeusage/", { body: order }));
  assert.ok(isProblem(again, "code_already_used"));
  assert.equal(again.known.status, 409);
  assert.ok(again.problem.request_id);
  const invalid = await problemOf(ann.POST("/api/v1/discountcodeusage/", { body: { ...order, amount: "1.005" } }));
  switch (invalid.known?.code) {
    case "validation_error":
      assert.ok(invalid.known.errors.some((error) => error.loc.includes("amount")), JSON.stringify(invalid.problem));
      break;
    default:
      assert.fail(`expected validation_error, got ${invalid.code}`);
  }
  const unknown = await problemOf(ann.GET("/api/v1/discountcode/{id}/", { params: { path: { id: "NO-SUCH" } } }));
  assert.ok(isProblem(unknown, "code_not_found"));

  // A batch: poll until done, then its CSV.
  const queued = await call(
    brand.POST("/api/v1/discountcodebatch/", {
      body: { rule: { brand: "ts-brand", discount: 20 }, validity, count: 3, prefix: "TSFLY-" },
    }),
  );
  let batch = queued;
  const deadline = Date.now() + 60_000;
  while (batch.status !== "done" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    batch = await call(brand.GET("/api/v1/discountcodebatch/{id}/", { params: { path: { id: queued.id } } }));
  }
  assert.deepEqual([batch.status, batch.generated], ["done", 3]);
  const csv = await call(
    brand.GET("/api/v1/discountcodebatch/{id}/codes.csv", { params: { path: { id: batch.id } }, parseAs: "text" }),
  );
  const lines = csv.trim().split(/\r?\n/);
  assert.deepEqual([lines[0], lines.length], ["code,hash", 4]);
  const flyers = lines.slice(1).map((line) => line.split(",")[0] ?? "");

  // A hold on a cart of items, confirmed; then a use rolled back.
  const items = [
    { brand: "ts-brand", price: "50.00", quantity: 2 },
    { brand: "other", price: "20.00", quantity: 1 },
  ];
  const held = await call(
    bob.POST("/api/v1/discountcodeusage/", { body: { code: flyers[0] ?? "", user: "u-ts-bob", items, hold: true } }),
  );
  assert.deepEqual([held.status, held.discount_amount, held.amount_to_pay], ["held", "20.00", "100.00"]);
  const usage = { params: { path: { usage_id: held.id } } };
  const confirmed = await call(bob.POST("/api/v1/discountcodeusage/{usage_id}/confirm/", usage));
  assert.deepEqual([confirmed.id, confirmed.status], [held.id, "used"]);
  const use = await call(
    bob.POST("/api/v1/discountcodeusage/", { body: { code: flyers[1] ?? "", user: "u-ts-bob", amount: "10.00" } }),
  );
  await call(bob.DELETE("/api/v1/discountcodeusage/{usage_id}/", { params: { path: { usage_id: use.id } } }));
  const after = await call(bob.GET("/api/v1/discountcode/{id}/", { params: { path: { id: flyers[1] ?? "" } } }));
  assert.equal(after.used, false);
  const twice = await problemOf(
    bob.DELETE("/api/v1/discountcodeusage/{usage_id}/", { params: { path: { usage_id: use.id } } }),
  );
  assert.ok(isProblem(twice, "usage_not_found"));

  // EXTENSION POINT (API.md part 3, the cart): POST /api/v1/cartquote/, a held
  // /api/v1/cartredemption/ confirmed, and cart_rejected's `rejected` list, once they are in
  // src/generated/schema.ts; a webhook endpoint and a delivery checked with WebhookVerifier.
});

test("a bad token is unauthenticated", live, async () => {
  const anonymous = createDiscountsClient({ baseUrl: url, token: "not-a-jwt" });
  const refused = await problemOf(anonymous.GET("/api/v1/discountcode/{id}/", { params: { path: { id: "TSSPRING" } } }));
  assert.ok(isProblem(refused, "unauthenticated"));
});

test("a retry after a dropped reply returns the original 201", live, async () => {
  const proxy = process.env.DISCOUNTS_PROXY_URL ?? "";
  const resultDir = process.env.DISCOUNTS_RESULT_DIR ?? "";
  assert.ok(proxy && resultDir, "the proxy's address and a folder for the answer");
  await call(
    client("service").PUT("/api/v1/brands/{brand_id}/", {
      params: { path: { brand_id: "ts-proxy-brand" } },
      body: { name: "Proxy", email: "promo@proxy.example" },
    }),
  );
  await call(
    client("proxy-brand").POST("/api/v1/discountcode/", {
      body: { id: "TSDROPPED", rule: { brand: "ts-proxy-brand", discount: 25 }, validity },
    }),
  );
  const user = client("proxy", proxy);
  const used = await call(
    user.POST("/api/v1/discountcodeusage/", { body: { code: "TSDROPPED", user: "u-ts-proxy", amount: "80.00" } }),
  );
  assert.equal(used.amount_to_pay, "60.00");
  writeFileSync(join(resultDir, "redemption.json"), JSON.stringify(used));
});

test("a wait longer than the budget is thrown at once", live, async () => {
  const guesser = createDiscountsClient({ baseUrl: url, token: tokens.guesser ?? "", retry: { totalMs: 20_000 } });
  for (const guess of ["TSGUESS-0", "TSGUESS-1", "TSGUESS-2"]) {
    const missed = await problemOf(guesser.GET("/api/v1/discountcode/{id}/", { params: { path: { id: guess } } }));
    assert.ok(isProblem(missed, "code_not_found"));
  }
  const started = performance.now();
  const limited = await problemOf(guesser.GET("/api/v1/discountcode/{id}/", { params: { path: { id: "TSSPRING" } } }));
  assert.ok(isProblem(limited, "rate_limited"));
  assert.ok(performance.now() - started < 10_000);
  assert.ok((limited.retryAfter ?? 0) > 20, String(limited.retryAfter));
});
