/**
 * How this `airlock` was started, as the words a person pastes to run another of its commands: the
 * `airlock` on PATH, `npx airlock` for a local install, or `npm run -s airlock --` in a source checkout
 * (which has no `airlock` on PATH; without `-s`, npm prints its own "> airlock@… airlock" lines into
 * stdout, which would corrupt data such as the token `admin token create` prints).
 */
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, join, sep } from 'node:path';

/** The command prefix for printed hints, e.g. `npm run -s airlock --` then ` admin user add …`. */
export function cliCommand(env: NodeJS.ProcessEnv = process.env, script: string | undefined = process.argv[1]): string {
  const checkout = 'npm run -s airlock --';
  // Through the package's own scripts (npm start, npm run airlock): a checkout.
  if (env.npm_package_name === 'airlock' && (env.npm_lifecycle_event === 'airlock' || env.npm_lifecycle_event === 'start')) return checkout;
  if (script !== undefined && onPath('airlock', script, env)) return 'airlock';
  if (env.npm_command === 'exec' || env.npm_lifecycle_event === 'npx') return 'npx airlock';
  if (script !== undefined && real(script).split(sep).includes('node_modules')) return 'npx airlock';
  return checkout;
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Whether `name` on PATH is the very file `script` (a global install's link to it). */
function onPath(name: string, script: string, env: NodeJS.ProcessEnv): boolean {
  const target = real(script);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (existsSync(candidate) && real(candidate) === target) return true;
  }
  return false;
}
