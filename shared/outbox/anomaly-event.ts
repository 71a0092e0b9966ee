import { CloudEvent, HTTP } from 'cloudevents';
import { presentEpisode } from '../store/episode-record.js';
import type { OutboxEntry } from '../store/outbox.js';

/** The CloudEvent types of alert episodes, and the source of every event this service sends. */
export const ANOMALY_EVENT_TYPES = { opened: 'io.iot-metrics.episode.opened', closed: 'io.iot-metrics.episode.closed' } as const;
export const ANOMALY_EVENT_SOURCE = '/iot-metrics-analytics/episodes';

/**
 * The CloudEvent of one outbox entry. Its id is made of the device, the episode and the step, so every
 * delivery of one change carries the same id (a receiver drops repeats by id), and no two changes
 * share one. `time` is when the change was detected; `extensions` come from K_CE_OVERRIDES.
 */
export function anomalyEvent(entry: OutboxEntry, extensions: Readonly<Record<string, string>>): CloudEvent<Record<string, unknown>> {
  const episode = presentEpisode(entry.record);
  const time = entry.step === 'opened' ? episode.detected_at : (episode.closed_at ?? episode.detected_at);
  return new CloudEvent({
    ...extensions,
    specversion: '1.0',
    type: ANOMALY_EVENT_TYPES[entry.step],
    source: ANOMALY_EVENT_SOURCE,
    id: `${entry.device}/${entry.id}/${entry.step}`,
    subject: entry.device,
    time,
    datacontenttype: 'application/json',
    data: { episode_id: entry.id, ...episode, z: entry.z, avg: entry.avg },
  });
}

/** Posts one event to the sink in binary content mode; resolves on a 2xx, else throws why. */
export async function send(sink: string, event: CloudEvent<Record<string, unknown>>, timeoutMs: number): Promise<void> {
  const message = HTTP.binary(event);
  const response = await fetch(sink, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new Error(`sink answered ${response.status}`);
}
