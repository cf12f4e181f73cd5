// Events as CloudEvents 1.0 in the structured JSON format (application/cloudevents+json): the
// envelope's attributes and the event's data in one JSON document. The serialised text is what
// is stored with a delivery and signed, so every attempt and redelivery sends the same bytes.
import { CLOUDEVENT_TYPES, PING, type OpenCloudEvent } from './events.js';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: 'application/json';
  data: unknown;
}

export function toCloudEvent(e: OpenCloudEvent, source: string): CloudEvent {
  return {
    specversion: '1.0',
    id: e.id,
    source,
    type: CLOUDEVENT_TYPES[e.name],
    time: e.time,
    subject: e.subject,
    datacontenttype: 'application/json',
    data: e.data,
  };
}

/** The test event sent to one webhook on request. */
export function pingEvent(id: string, source: string, webhookId: string): CloudEvent {
  return {
    specversion: '1.0',
    id,
    source,
    type: CLOUDEVENT_TYPES[PING],
    time: new Date().toISOString(),
    subject: webhookId,
    datacontenttype: 'application/json',
    data: { webhookId, message: 'a test delivery from OpenCloud' },
  };
}
