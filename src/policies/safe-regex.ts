// Regular expressions from policies run against tag names on every push (immutable tags) and in
// every collection (retention). JavaScript's engine backtracks: an expression with a repeated
// group that itself repeats or alternates — `(a+)+$`, `(a|a)*b` — can take exponential time on a
// 128-character tag a pusher chooses, and stop the server. Such expressions (and backreferences,
// which need backtracking too) are refused when a rule is stored; what is left runs in time
// polynomial in the tag's length.

/**
 * What is wrong with `source` as a policy's expression, as the end of a sentence ("is not a
 * regular expression: …", "is refused: …"); undefined when it compiles and cannot blow up.
 */
export function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source);
  } catch (err) {
    return `is not a regular expression: ${(err as Error).message}`;
  }
  const why = unsafeRegex(source);
  return why && `is refused: ${why}`;
}

/** Why a compiling `source` could take exponential time, or undefined. */
export function unsafeRegex(source: string): string | undefined {
  if (/\\[1-9]|\\k</.test(source)) return 'backreferences are not allowed';
  // For each open group: whether it holds a quantifier or an alternation so far.
  const groups: { risky: boolean }[] = [];
  let lastClosed: { risky: boolean } | undefined;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    const quantifier =
      c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(source.slice(i)));
    if (c === '\\') {
      i++; // an escaped character is a literal
      lastClosed = undefined;
    } else if (c === '[') {
      // A character class: skip to its end (a ']' right after '[' or '[^' is literal).
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      i = j;
      lastClosed = undefined;
    } else if (c === '(') {
      groups.push({ risky: false });
      lastClosed = undefined;
      // (?:…), (?=…), (?!…), (?<=…), (?<!…), (?<name>…): the `?` opens the group, it repeats nothing.
      const kind = /^\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(source.slice(i + 1));
      if (kind) i += kind[0].length;
    } else if (c === ')') {
      lastClosed = groups.pop();
      if (lastClosed?.risky && groups.length) (groups[groups.length - 1] as { risky: boolean }).risky = true;
    } else if (quantifier) {
      // `?` right after another quantifier makes it lazy: still one repetition.
      const lazy = c === '?' && /[*+?}]/.test(source[i - 1] ?? '');
      if (!lazy && lastClosed?.risky && c !== '?')
        return 'a repeated group must not itself repeat or alternate (it can take exponential time)';
      if (!lazy && groups.length) (groups[groups.length - 1] as { risky: boolean }).risky = true;
      if (c === '{') i = source.indexOf('}', i);
      lastClosed = undefined;
    } else if (c === '|') {
      if (groups.length) (groups[groups.length - 1] as { risky: boolean }).risky = true;
      lastClosed = undefined;
    } else {
      lastClosed = undefined;
    }
  }
  return undefined;
}
