import { type ChildProcess, spawn } from 'node:child_process';

// Processes the tests start (the server, `blastradius demo`), each stopped by its own id.
export const binary = process.env.BLASTRADIUS_BIN ?? '../target/debug/blastradius';

export interface Started {
  child: ChildProcess;
  /** What it has printed so far (stdout and stderr). */
  output: () => string;
}

/** Starts `blastradius ARGS` and resolves once its output matches `ready`. */
export function start(args: string[], ready: RegExp): Promise<Started> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${args.join(' ')}\n${text}`)), 20_000);
    const seen = (chunk: Buffer) => {
      text += chunk.toString();
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve({ child, output: () => text });
      }
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
}

/** Stops a process by its id and waits for it to go. */
export async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
}

/** A topology file from `blastradius template NAME`, as JSON. */
export async function template(name: string): Promise<any> {
  const child = spawn(binary, ['template', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => child.on('exit', resolve));
  return JSON.parse(Buffer.concat(chunks).toString());
}
