// What a card says about its data: "Loading …" while the first answer is on the way (announced
// politely to screen readers), the error when there is one, nothing once the data is shown.
import type { Loaded } from '../api/use-api';
import { ErrorNote } from './error-note';

export function LoadNote({ loaded, what }: { loaded: Loaded<unknown>; what: string }) {
  if (loaded.error) return <ErrorNote error={loaded.error} />;
  if (loaded.loading && loaded.data === undefined)
    return (
      <p className="muted" role="status" data-testid="loading">
        Loading {what}…
      </p>
    );
  return null;
}
