/**
 * Verifying the service's webhook deliveries (Standard Webhooks signatures, API.md part 3).
 *
 * Pass the raw body, exactly as received (not a re-serialized JSON), and the request's headers.
 * The signature is HMAC-SHA256 of `id.timestamp.body` with the endpoint's `whsec_` secret (either
 * signature passes during a rotation), and the timestamp must be within five minutes of now.
 * Dedupe by `event.id`: a delivery may come more than once.
 */
import { Webhook, WebhookVerificationError as LibraryError } from "standardwebhooks";

import { DiscountsError } from "./errors.js";

export class WebhookVerificationError extends DiscountsError {
  override name = "WebhookVerificationError";
}

export interface WebhookEvent {
  /** `webhook-id`: the same on every attempt of one event. */
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export class WebhookVerifier {
  private readonly webhook: Webhook;

  constructor(secret: string) {
    this.webhook = new Webhook(secret);
  }

  verify(body: string | Uint8Array, headers: Headers | Record<string, string>): WebhookEvent {
    const lowered: Record<string, string> = {};
    const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
    for (const [name, value] of entries) lowered[name.toLowerCase()] = value;
    let payload: unknown;
    try {
      payload = this.webhook.verify(body, lowered);
    } catch (error) {
      if (error instanceof LibraryError) throw new WebhookVerificationError(error.message, { cause: error });
      throw error;
    }
    const event = payload as Partial<WebhookEvent> | null;
    if (typeof event !== "object" || event === null || typeof event.data !== "object" || event.data === null) {
      throw new WebhookVerificationError("a delivery's body is an object with 'type', 'timestamp' and 'data'");
    }
    return { id: lowered["webhook-id"] ?? "", type: String(event.type), timestamp: String(event.timestamp), data: event.data };
  }
}
