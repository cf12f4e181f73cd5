// The orders a tag list can be read in: newest push first (the default), version order, or name.
// Version order compares runs of digits as numbers and everything else as text, so 0.0.2 comes
// before 0.0.10 and v1.9 before v1.10; a release sorts after its own pre-releases written with a
// hyphen (1.0.0-rc.1 before 1.0.0), as semantic versioning has it.
export const TAG_ORDERS = ['newest', 'version', 'name'] as const;
export type TagOrder = (typeof TAG_ORDERS)[number];

/** Digit runs and the text between them: "v1.10-rc2" → ["v", 1, ".", 10, "-rc", 2]. */
function pieces(tag: string): (string | number)[] {
  return (tag.match(/\d+|\D+/g) ?? []).map((p) => (/^\d/.test(p) ? Number(p) : p));
}

/** Negative when `a` is the lower version. */
export function compareVersions(a: string, b: string): number {
  const [mainA, preA] = splitPre(a);
  const [mainB, preB] = splitPre(b);
  const main = comparePieces(pieces(mainA), pieces(mainB));
  if (main !== 0) return main;
  // The same release: the one without a pre-release part is the higher.
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  return comparePieces(pieces(preA), pieces(preB)) || (a < b ? -1 : a > b ? 1 : 0);
}

/** "1.2.3-rc.1" → ["1.2.3", "rc.1"]; only a hyphen after a digit starts a pre-release. */
function splitPre(tag: string): [string, string | undefined] {
  const m = /^(.*?\d)-(.+)$/.exec(tag);
  return m ? [m[1] as string, m[2] as string] : [tag, undefined];
}

function comparePieces(a: (string | number)[], b: (string | number)[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    // A number sorts before text at the same place (1.0 before 1.x).
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Sorts in place and returns `tags` in `order`; ties are broken by name. */
export function sortTags<T extends { name: string; pushedAt: string }>(tags: T[], order: TagOrder): T[] {
  const byName = (a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const compare: Record<TagOrder, (a: T, b: T) => number> = {
    newest: (a, b) => (a.pushedAt < b.pushedAt ? 1 : a.pushedAt > b.pushedAt ? -1 : byName(a, b)),
    // Highest version first: what people look for.
    version: (a, b) => compareVersions(b.name, a.name) || byName(a, b),
    name: byName,
  };
  return tags.sort(compare[order]);
}
