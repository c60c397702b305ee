/**
 * Services on a target, written `NAME=PORT[/path][?token=TOKEN]` on the command line, e.g.
 * `jupyter=8888/lab?token=abc` or `redis=6379`. The path and token end up in a URL the researcher
 * opens, so only characters that need no escaping there are accepted.
 */
import { AirlockError } from '../errors.ts';
import type { TargetService } from './ports.ts';
import { checkPort, parsePort } from './target-validation.ts';

const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
// RFC 3986 path characters (pchar and "/"), percent-escapes only when well-formed.
const URL_PATH = /^\/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2}){0,255}$/;
// RFC 3986 unreserved characters: a token that needs no escaping in a query string.
const TOKEN = /^[A-Za-z0-9._~-]{1,512}$/;
const MAX_SERVICES = 32;

const show = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** Throws bad_request unless the service is well-formed. */
export function checkService(service: TargetService): void {
  if (!SERVICE_NAME.test(service.name)) {
    throw new AirlockError('bad_request', `${show(service.name)} is not a valid service name: use 1 to 32 lower-case letters, digits, "_" or "-".`);
  }
  checkPort(service.port, `port of service ${service.name}`);
  if (service.path !== null && !URL_PATH.test(service.path)) {
    throw new AirlockError('bad_request', `The path of service ${service.name} must start with "/" and contain only URL path characters (at most 256).`);
  }
  if (service.token !== null && !TOKEN.test(service.token)) {
    throw new AirlockError('bad_request', `The token of service ${service.name} may contain only letters, digits and ._~- (at most 512).`);
  }
}

/** Checks a target's service list: each service, at most 32, no name twice. */
export function checkServices(services: readonly TargetService[]): void {
  if (services.length > MAX_SERVICES) throw new AirlockError('bad_request', `At most ${MAX_SERVICES} services per target.`);
  const seen = new Set<string>();
  for (const s of services) {
    checkService(s);
    if (seen.has(s.name)) throw new AirlockError('bad_request', `The service ${s.name} is given twice.`);
    seen.add(s.name);
  }
}

/** Parses `NAME=PORT[/path][?token=TOKEN]`. */
export function parseServiceSpec(spec: string): TargetService {
  const m = /^([^=]*)=([0-9]*)(\/[^?]*)?(?:\?(.*))?$/.exec(spec);
  if (m === null) {
    throw new AirlockError('bad_request', `${show(spec)} is not a service: write NAME=PORT[/path][?token=TOKEN], e.g. jupyter=8888/lab?token=abc.`);
  }
  const name = m[1]!;
  const path = m[3];
  const query = m[4];
  let token: string | null = null;
  if (query !== undefined) {
    if (!query.startsWith('token=')) throw new AirlockError('bad_request', `In service ${show(spec)}, only "?token=TOKEN" may follow the port and path.`);
    token = query.slice('token='.length);
  }
  const service: TargetService = { name, port: parsePort(m[2]!, `port of service ${show(name)}`), path: path ?? null, token };
  checkService(service);
  return service;
}

/** Formats a service back into its `NAME=PORT[/path][?token=TOKEN]` spec. */
export function formatServiceSpec(service: TargetService): string {
  return `${service.name}=${service.port}${service.path ?? ''}${service.token === null ? '' : `?token=${service.token}`}`;
}
