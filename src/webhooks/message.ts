/** A webhook queue message (WEBHOOK_QUEUE): its format is a vocabulary (src/vocab/messages.mjs). */
export type { DeliveryMessage } from "../vocab/messages.mjs";
