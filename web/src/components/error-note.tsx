// An error as the user sees it: the server's message, with its code when there is one. A 401
// says nothing here: the sign-in form takes over.
import { ApiError } from '../api/client';

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error || (error instanceof ApiError && error.status === 401)) return null;
  return (
    <p className="error" role="alert">
      {error instanceof ApiError && error.code !== String(error.status) ? `${error.code}: ` : ''}
      {error.message}
    </p>
  );
}
