// A first look at a Dockerfile, before BuildKit sees it: it must have a FROM, and only ARG
// may come before the first FROM (comments, blank lines and parser directives aside; line
// continuations joined). BuildKit's own parser has the last word; this catches the mistakes a
// user makes most, with a clear message, without a round trip to the daemon.
export class DockerfileError extends Error {}

export function checkDockerfile(text: string): void {
  if (text.trim() === '') throw new DockerfileError('the Dockerfile is empty');
  const escape = /^#\s*escape\s*=\s*(\S)/im.exec(text)?.[1] ?? '\\';
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith(escape)) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim() !== '') lines.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') lines.push(current.trim());
  for (const line of lines) {
    const word = (line.split(/\s+/)[0] ?? '').toUpperCase();
    if (word === 'FROM') return;
    if (word !== 'ARG') {
      throw new DockerfileError(
        `the Dockerfile has ${word} before its first FROM (only ARG may come before FROM)`,
      );
    }
  }
  throw new DockerfileError('the Dockerfile has no FROM instruction');
}
