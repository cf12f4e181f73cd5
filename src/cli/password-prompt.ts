// Reading a password for a command: without echo on a terminal, or one line from stdin
// (`--password-stdin`), never from an argument (it would show in `ps` and shell history).
import { createInterface } from 'node:readline';
import { UsageError } from '../errors.js';

/** One answer typed without echo (on stderr, so stdout stays the command's own output). */
function askHidden(question: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let muted = false;
    out._writeToOutput = (s: string) => {
      if (!muted) process.stderr.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}

/**
 * A password from stdin (`fromStdin`: its first line) or typed on the terminal — twice when
 * `confirm` (a new password). `otherwise` is what to do when there is neither.
 */
export async function readPassword(
  fromStdin: boolean,
  { confirm = true, otherwise = 'pass --password-stdin or --generate' } = {},
): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    if (!fromStdin) throw new UsageError(`no terminal to ask for the password: ${otherwise}`);
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text.replace(/\r?\n$/, '');
  }
  const first = await askHidden('password: ');
  if (confirm && (await askHidden('again: ')) !== first) throw new UsageError('the passwords differ');
  return first;
}
