/** Terminal input for secrets and codes: hidden echo for passwords, stdin for scripts. */
import { createInterface } from 'node:readline';
import { AirlockError } from '../errors.ts';

/** Reads all of stdin and returns its first line (for --password-stdin); refuses an empty one. */
export async function readFirstLineOfStdin(what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > 64 * 1024) throw new AirlockError('bad_request', `The ${what} on standard input is too long.`);
    chunks.push(buf);
  }
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (line.length === 0) throw new AirlockError('bad_request', `No ${what} on standard input.`);
  return line;
}

/** Prompts on the terminal; `hidden` suppresses echo (passwords). Fails clearly without a terminal. */
export async function prompt(question: string, opts: { hidden?: boolean; flag: string }): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new AirlockError('bad_request', `No terminal to ask for it; pass ${opts.flag}.`);
  }
  if (!opts.hidden) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await new Promise<string>((resolve) => rl.question(question, resolve));
    } finally {
      rl.close();
    }
  }
  process.stderr.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (s: string) => {
        for (const ch of s) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            process.stderr.write('\n');
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            process.stderr.write('\n');
            reject(new AirlockError('bad_request', 'Cancelled.'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}
