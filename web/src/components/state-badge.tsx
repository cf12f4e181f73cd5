// A coloured word for a state (build states, service states, step results); the colour comes
// from the stylesheet's `.state-<name>` classes.
export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`badge state-${state}`} data-state={state}>
      {state}
    </span>
  );
}
