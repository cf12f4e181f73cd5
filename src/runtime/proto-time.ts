// google.protobuf.Timestamp values as our gRPC clients decode them ({seconds, nanos}, longs as
// numbers) turned into ISO strings; unset and Go's zero time become null.
export interface ProtoTimestamp {
  seconds: number;
  nanos: number;
}

/** Go's time.Time{} (0001-01-01T00:00:00Z) in Unix seconds. */
const GO_ZERO_TIME = -62135596800;

export function isoFromTimestamp(t: ProtoTimestamp | null | undefined): string | null {
  if (!t) return null;
  const seconds = Number(t.seconds);
  const nanos = Number(t.nanos);
  if ((seconds === 0 && nanos === 0) || seconds <= GO_ZERO_TIME || !Number.isFinite(seconds)) return null;
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString();
}
