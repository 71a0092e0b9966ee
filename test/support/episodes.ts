import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { type Sink, startSink } from '../../support/sink.js';
import type { TestApp } from './app.js';

/**
 * Readings of one device that open and close `episodes` alert episodes with the default profile: a
 * steady warm-up, then each episode is one spike (|z| > 2: opened) and 19 usual values (5 close it;
 * the rest keep the spikes apart in the window). Returns the events and the spikes' timestamps.
 */
export function episodeStream(device: string, episodes: number, start = Date.UTC(2026, 0, 1)) {
  const events: Array<{ device_id: string; timestamp: string; cpu: number }> = [];
  const spikes: number[] = [];
  const at = (i: number) => start + i * 1000;
  for (let i = 0; i < 12; i++) events.push({ device_id: device, timestamp: new Date(at(i)).toISOString(), cpu: 10 + (i % 2) });
  for (let e = 0; e < episodes; e++) {
    const i = events.length;
    spikes.push(at(i));
    events.push({ device_id: device, timestamp: new Date(at(i)).toISOString(), cpu: 100 });
    for (let j = 1; j < 20; j++) events.push({ device_id: device, timestamp: new Date(at(i + j)).toISOString(), cpu: 10 + (j % 2) });
  }
  return { events, spikes };
}

/** The ids a sink took (2xx), in arrival order. */
export const deliveredIds = (sink: Sink) => sink.received.filter((r) => r.status < 300).map((r) => String(r.headers['ce-id']));

/** The event ids of a device's episodes, opened then closed, in order. */
export const expectedIds = (device: string, spikes: number[]) => spikes.flatMap((s) => [`${device}/${s}/cpu/opened`, `${device}/${s}/cpu/closed`]);

/**
 * The fixture of the anomaly-event tests: a sink (reset to "202 to all" after each test), a Redis
 * client on the test server, and the apps a file starts, closed after the file. Read its fields
 * inside tests (they are set in beforeAll).
 */
export function sinkFixture() {
  const fixture = { sink: undefined as unknown as Sink, redis: undefined as unknown as Redis, apps: [] as TestApp[] };
  beforeAll(async () => {
    fixture.sink = await startSink();
    fixture.redis = new Redis(inject('redisUrl'));
  });
  afterEach(() => {
    fixture.sink.received.length = 0;
    fixture.sink.answer(() => 202);
  });
  afterAll(async () => {
    await Promise.all(fixture.apps.map((app) => app.close()));
    await fixture.sink.stop();
    fixture.redis.disconnect();
  });
  return fixture;
}
