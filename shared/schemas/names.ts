import { z } from 'zod';

/** The device of an event that names none (the source services' single-device payloads). */
export const DEFAULT_DEVICE = 'default';
export const DEVICE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
export const METRIC_NAME = /^[a-z][a-z0-9_]{0,62}$/;

export const DeviceId = z.string().regex(DEVICE_ID, 'must be 1-128 characters of [A-Za-z0-9_.:-]');
export const MetricName = z.string().regex(METRIC_NAME, 'must match ^[a-z][a-z0-9_]{0,62}$');
