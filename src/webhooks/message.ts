/** A webhook queue message (WEBHOOK_QUEUE): the delivery to attempt. No imports: src/env.ts types its queue with it. */
export interface DeliveryMessage {
  delivery: string;
}
