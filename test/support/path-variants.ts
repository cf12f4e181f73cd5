// Other spellings of one request path, as an attacker tries them against a router and an access
// check that might read the path differently: percent-encoded characters (upper- and lower-case
// hex), %2F for a separator, doubled, leading and trailing slashes, `;` parameters, a raw `#`,
// `.` and `..` segments, double encoding and backslashes.

const encodeAll = (segment: string, upper = true) =>
  [...Buffer.from(segment, 'utf8')]
    .map((b) => {
      const hex = b.toString(16).padStart(2, '0');
      return `%${upper ? hex.toUpperCase() : hex}`;
    })
    .join('');

/** Variants of `path` (which starts with `/` and has no query); the path itself is not among them. */
export function pathVariants(path: string): string[] {
  const segments = path.split('/').slice(1);
  const join = (segs: string[]) => `/${segs.join('/')}`;
  const out = new Set<string>();
  const withSegment = (i: number, value: string) => join(segments.map((s, j) => (j === i ? value : s)));
  segments.forEach((s, i) => {
    if (s === '') return;
    out.add(withSegment(i, encodeAll(s)));
    out.add(withSegment(i, encodeAll(s, false)));
    // One character encoded (the first), as in /%61pi/v1/users.
    out.add(withSegment(i, encodeAll(s[0] as string) + s.slice(1)));
    out.add(withSegment(i, `%25${encodeAll(s[0] as string).slice(1)}${s.slice(1)}`)); // double encoding
    out.add(withSegment(i, `${s};x=1`));
    out.add(withSegment(i, `x/../${s}`));
    out.add(withSegment(i, `./${s}`));
  });
  out.add(join(segments.map((s) => (s === '' ? s : encodeAll(s)))));
  for (let i = 1; i < segments.length; i++) {
    const head = segments.slice(0, i).join('/');
    const tail = segments.slice(i).join('/');
    out.add(`/${head}%2F${tail}`);
    out.add(`/${head}%2f${tail}`);
    out.add(`/${head}//${tail}`);
    out.add(`/${head}\\${tail}`);
  }
  out.add(`/${path}`); // leading //
  out.add(path.endsWith('/') ? path.slice(0, -1) || '/' : `${path}/`);
  out.add(`${path};`);
  out.add(`${path}#fragment`);
  out.add(`/x/..${path}`);
  out.add(`/..${path}`);
  out.add(`${path}/.`);
  out.delete(path);
  return [...out];
}
