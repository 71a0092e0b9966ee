export type FleetEvent = Record<string, string | number>;

/**
 * A simulated fleet whose top devices by anomalies are known by construction: `size` devices that
 * send usual `temp` values (never flagged), and `hot` of them, spread over the ids, that also send
 * `cpu`: ten usual values, then the k-th hot device 20 + k values each ten times the last (every one
 * flagged, since each dwarfs the whole window before it).
 */
export function simulatedFleet(size: number, hot: number) {
  const devices = Array.from({ length: size }, (_, i) => `fleet-${String(i).padStart(4, '0')}`);
  const step = Math.floor(size / hot);
  // Most anomalies first.
  const hotDevices = Array.from({ length: hot }, (_, k) => ({ device: devices[k * step]!, anomalies: 20 + k })).reverse();
  return {
    devices,
    hot: hotDevices,
    /** One `temp` value of every device, in batches of at most `batch` events. */
    usual(round: number, batch: number): FleetEvent[][] {
      const events = devices.map((device, i) => ({ device_id: device, temp: 20 + ((i + round) % 3) }));
      return Array.from({ length: Math.ceil(size / batch) }, (_, b) => events.slice(b * batch, (b + 1) * batch));
    },
    /** Ten usual `cpu` values of each hot device: the baseline its spikes are judged against. */
    warmUp(): FleetEvent[] {
      return hotDevices.flatMap(({ device }) => Array.from({ length: 10 }, (_, j) => ({ device_id: device, cpu: 40 + (j % 3) })));
    },
    /** Every anomalous value of every hot device, so one request moves the top devices at once. */
    spikes(): FleetEvent[] {
      return hotDevices.flatMap(({ device, anomalies }) => Array.from({ length: anomalies }, (_, j) => ({ device_id: device, cpu: 10 ** (3 + j) })));
    },
  };
}
