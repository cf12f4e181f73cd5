// Follows an event stream from a component: each event's JSON data is folded into a state with
// `apply`, reconnecting (Last-Event-ID) until `complete` holds; the stream stops when the
// component unmounts or the URL changes.
import { useEffect, useState } from 'react';
import { followEvents } from './event-stream';

export interface Followed<S> {
  state: S;
  error: Error | undefined;
  /** The server ended the stream and nothing more will come. */
  ended: boolean;
}

export function useEventStream<E, S>(
  url: string | null,
  initial: S,
  apply: (state: S, event: E) => S,
  complete: (state: S) => boolean,
): Followed<S> {
  const [followed, setFollowed] = useState<Followed<S>>({ state: initial, error: undefined, ended: false });
  useEffect(() => {
    if (!url) return;
    const abort = new AbortController();
    let current = initial;
    setFollowed({ state: initial, error: undefined, ended: false });
    followEvents(url, {
      signal: abort.signal,
      onEvent: (e) => {
        current = apply(current, JSON.parse(e.data) as E);
        setFollowed((f) => ({ ...f, state: current }));
      },
      complete: () => complete(current),
    }).then(
      () => !abort.signal.aborted && setFollowed((f) => ({ ...f, ended: true })),
      (err: Error) => !abort.signal.aborted && setFollowed((f) => ({ ...f, error: err, ended: true })),
    );
    return () => abort.abort();
    // `initial`, `apply` and `complete` are fixed per call site; only the URL restarts the stream.
  }, [url]);
  return followed;
}
