/**
 * The TypeScript client against the live service that tests/clients/test_typescript_client.py
 * starts (it passes the address and tokens in the environment): the README's tour, the errors,
 * and a retry after a reply lost on the way (through a proxy that drops it once).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";

import { call, createDiscountsClient, isProblem, ProblemError, WebhookVerifier } from "../src/index.js";

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
});

/** A webhook receiver on a free loopback port: records each delivery's headers and raw body, answers 204. */
async function receiver() {
  const received: { headers: Record<string, string>; body: string }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: flat(request.headers), body: Buffer.concat(chunks).toString("utf8") });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    /** The first delivery of an event of `type` (waiting for it), and every one so far. */
    async arrived(type: string, seconds = 60) {
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const found = received.filter((r) => (JSON.parse(r.body) as { type: string }).type === type);
        if (found.length > 0) return found;
        assert.ok(Date.now() < deadline, `no ${type} delivery in ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]));
}

test("a cart quoted, held, confirmed, rejected and given back; a webhook delivery verified", live, async () => {
  const hooks = await receiver();
  try {
    const service = client("service");
    const acme = client("cart-acme");
    const bolt = client("cart-bolt");
    const cara = client("cara");
    for (const brand of ["ts-cart-acme", "ts-cart-bolt"]) {
      await call(
        service.PUT("/api/v1/brands/{brand_id}/", {
          params: { path: { brand_id: brand } },
          body: { name: brand, email: `promo@${brand}.example` },
        }),
      );
    }

    // A webhook endpoint of the brand (its secret shown this once) and a ping, verified as a receiver would.
    const endpoint = await call(acme.POST("/api/v1/webhooks/", { body: { url: hooks.url, events: ["usage.used"] } }));
    assert.deepEqual([endpoint.url, endpoint.events, endpoint.enabled], [hooks.url, ["usage.used"], true]);
    const verifier = new WebhookVerifier(endpoint.secret);
    const hook = { params: { path: { id: endpoint.id } } };
    const ping = await call(acme.POST("/api/v1/webhooks/{id}/test/", hook));
    assert.deepEqual([ping.type, ping.status], ["ping", 204]);
    const [pinged] = await hooks.arrived("ping");
    assert.equal(verifier.verify(pinged?.body ?? "", pinged?.headers ?? {}).id, ping.event);
    const others = await problemOf(bolt.GET("/api/v1/webhooks/{id}/", hook));
    assert.ok(isProblem(others, "webhook_not_found"));

    await call(
      acme.POST("/api/v1/discountcode/", { body: { id: "TSACME10", rule: { brand: "ts-cart-acme", discount: 10 }, validity } }),
    );
    const bolt5 = { brand: "ts-cart-bolt", amount_off: "5.00", currency: "EUR" };
    await call(bolt.POST("/api/v1/discountcode/", { body: { id: "TSBOLT5", rule: bolt5, validity } }));

    // The cart quoted: each code's discount allocated line by line, a refused code listed.
    const cart = {
      user: "u-ts-cara",
      currency: "EUR",
      codes: ["tsacme10", "tsbolt5"],
      lines: [
        { id: "a", brand: "ts-cart-acme", price: "60.00", quantity: 1 },
        { id: "b", brand: "ts-cart-acme", price: "40.00", quantity: 1, categories: ["shoes"] },
        { id: "c", brand: "ts-cart-bolt", price: "30.00", quantity: 2, product: "sku-42" },
      ],
    };
    const quoted = await call(cara.POST("/api/v1/cartquote/", { body: { ...cart, codes: [...cart.codes, "TSNOPE"] } }));
    assert.deepEqual(
      quoted.applied.map((code) => [code.code, code.discount_amount, code.allocations]),
      [
        ["TSACME10", "10.00", [{ line: "a", amount: "6.00" }, { line: "b", amount: "4.00" }]],
        ["TSBOLT5", "5.00", [{ line: "c", amount: "5.00" }]],
      ],
    );
    assert.deepEqual(quoted.rejected.map((r) => [r.code, r.reason]), [["TSNOPE", "code_not_found"]]);
    assert.deepEqual([quoted.amount, quoted.discount_amount, quoted.amount_to_pay], ["160.00", "15.00", "145.00"]);

    // Held at checkout, then confirmed together (again: the same answer).
    const held = await call(cara.POST("/api/v1/cartredemption/", { body: { ...cart, hold: true } }));
    assert.deepEqual([held.status, held.amount_to_pay], ["held", "145.00"]);
    assert.ok(Date.parse(held.hold_expires_at ?? "") > Date.now());
    const usage = Object.fromEntries(held.applied.map((code) => [code.code, code.usage]));
    const byId = { params: { path: { id: held.id } } };
    const confirmed = await call(cara.POST("/api/v1/cartredemption/{id}/confirm/", byId));
    assert.deepEqual([confirmed.id, confirmed.status], [held.id, "used"]);
    assert.deepEqual(await call(service.POST("/api/v1/cartredemption/{id}/confirm/", byId)), confirmed);

    // The brand hears of its use, signed: the deliverer of serve's background worker sends it.
    const [delivered] = await hooks.arrived("usage.used");
    const event = verifier.verify(delivered?.body ?? "", delivered?.headers ?? {});
    assert.deepEqual(
      [event.type, event.data.code, event.data.cart, event.data.id, event.data.discount_amount],
      ["usage.used", "TSACME10", held.id, usage.TSACME10, "10.00"],
    );

    // All or nothing: codes already used refuse the whole cart, each reason typed.
    const rejected = await problemOf(cara.POST("/api/v1/cartredemption/", { body: cart }));
    switch (rejected.known?.code) {
      case "cart_rejected":
        assert.deepEqual(
          rejected.known.rejected.map((r) => [r.code, r.reason]),
          [
            ["TSACME10", "code_already_used"],
            ["TSBOLT5", "code_already_used"],
          ],
        );
        break;
      default:
        assert.fail(`expected cart_rejected, got ${rejected.code}`);
    }

    // A rollback: the cart given back, its codes free again; a second time there is no cart.
    await call(cara.DELETE("/api/v1/cartredemption/{id}/", byId));
    const again = await call(cara.POST("/api/v1/cartquote/", { body: cart }));
    assert.deepEqual([again.rejected, again.amount_to_pay], [[], "145.00"]);
    const gone = await problemOf(cara.DELETE("/api/v1/cartredemption/{id}/", byId));
    assert.ok(isProblem(gone, "cart_not_found"));

    // The endpoint changed, its secret rotated, then deleted.
    const changed = await call(acme.PATCH("/api/v1/webhooks/{id}/", { ...hook, body: { enabled: false } }));
    assert.equal(changed.enabled, false);
    const rotated = await call(acme.POST("/api/v1/webhooks/{id}/secret/", hook));
    assert.notEqual(rotated.secret, endpoint.secret);
    await call(acme.DELETE("/api/v1/webhooks/{id}/", hook));
    assert.ok(isProblem(await problemOf(acme.GET("/api/v1/webhooks/{id}/", hook)), "webhook_not_found"));
  } finally {
    hooks.close();
  }
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
  await call(
    client("proxy-brand").POST("/api/v1/discountcode/", {
      body: { id: "TSDROPCART", rule: { brand: "ts-proxy-brand", discount: 10 }, validity },
    }),
  );
  const user = client("proxy", proxy);
  const used = await call(
    user.POST("/api/v1/discountcodeusage/", { body: { code: "TSDROPPED", user: "u-ts-proxy", amount: "80.00" } }),
  );
  assert.equal(used.amount_to_pay, "60.00");
  // A cart's hold and its confirm lose their answers too (the proxy drops the first of each).
  const lines = [{ id: "x", brand: "ts-proxy-brand", price: "30.00", quantity: 2 }];
  const held = await call(
    user.POST("/api/v1/cartredemption/", { body: { user: "u-ts-proxy", codes: ["tsdropcart"], lines, hold: true } }),
  );
  assert.deepEqual([held.status, held.amount_to_pay], ["held", "54.00"]);
  const confirmed = await call(
    user.POST("/api/v1/cartredemption/{id}/confirm/", { params: { path: { id: held.id } } }),
  );
  assert.deepEqual([confirmed.id, confirmed.status], [held.id, "used"]);
  writeFileSync(join(resultDir, "redemption.json"), JSON.stringify(used));
  writeFileSync(join(resultDir, "cart-held.json"), JSON.stringify(held));
  writeFileSync(join(resultDir, "cart-confirmed.json"), JSON.stringify(confirmed));
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
