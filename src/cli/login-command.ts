/**
 * `airlock login` and `airlock logout`: sign in with password + TOTP, generate an Ed25519 key on this
 * machine (the private key never leaves it), have it certified, write key and certificate under ~/.ssh,
 * and optionally add them to ssh-agent for the certificate's lifetime (the CSCS workflow, in one command).
 */
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { AirlockError } from '../errors.ts';
import { formatDuration } from '../duration.ts';
import { formatPublicKey, publicKeyFromKeyObject } from '../ssh/keys.ts';
import { formatOpenSshPrivateKey } from '../ssh/private-key.ts';
import { parseCertificate } from '../ssh/certificate.ts';
import { writeFileAtomic } from '../files.ts';
import { apiRequest } from './api-client.ts';
import { clearSession, ensurePrivateDir, keyPaths, loadSession, saveSession } from './client-state.ts';
import { prompt, readFirstLineOfStdin } from './prompt.ts';
import { outJson, say } from './output.ts';
import { refreshSshConfigAfterLogin } from './config-command.ts';
import { browserLogin } from './browser-login-flow.ts';
import { checkSignInServer } from './server-url.ts';

interface LoginResponse { token: string; token_expires_at: string; user: { name: string } }
interface CertificateResponse { serial: string; certificate: string; valid_before: string; valid_after: string; principals: string[] }

/** Adds key + certificate to ssh-agent for `seconds`; returns a message when it could not. */
function addToAgent(keyPath: string, seconds: number): string | undefined {
  if (!process.env.SSH_AUTH_SOCK) return 'ssh-agent is not running (SSH_AUTH_SOCK is unset); start it with eval "$(ssh-agent)" and run: ssh-add -t ' + seconds + ' ' + keyPath;
  const res = spawnSync('ssh-add', ['-t', String(seconds), keyPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.error) return `ssh-add could not run (${res.error.message}); is OpenSSH installed?`;
  if (res.status !== 0) return `ssh-add failed: ${(res.stderr || res.stdout).trim()}`;
  return undefined;
}

/** Registers `login` and `logout` on the program. */
export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description('Sign in with password and one-time code; get a fresh SSH key and a short-lived certificate')
    .requiredOption('--server <url>', 'Airlock server URL, e.g. https://airlock.example.org')
    .requiredOption('--user <name>', 'your Airlock user name')
    .option('--browser', 'sign in and approve in a browser instead (prints a link and a code; no password prompt here)')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--otp <code>', 'the one-time code from your authenticator app (or a recovery code)')
    .option('--key-name <name>', 'write ~/.ssh/NAME-key and NAME-key-cert.pub', 'airlock')
    .option('--agent', 'add the key and certificate to ssh-agent until the certificate expires')
    .option('--no-ssh-config', 'do not run airlock config afterwards')
    .option('--no-certificate', 'only sign in, e.g. for airlock keys add: no key, no certificate, none of your daily certificates used')
    .option('--json', 'print the result as JSON')
    .option('--insecure-http', 'allow a plain http:// server that is not this machine (your password and session travel unencrypted)')
    .addHelpText('after', `
Examples:
  airlock login --server https://airlock.example.org --user alice
  airlock login --server https://airlock.example.org --user alice --agent
  airlock login --server https://airlock.example.org --user alice --browser
  airlock login --server https://airlock.example.org --user alice --no-certificate   (then: airlock keys add ~/.ssh/id_ed25519.pub)
  pass show airlock | airlock login --server https://airlock.example.org --user alice --password-stdin --otp 123456`)
    .action(async (opts: { server: string; user: string; browser?: boolean; passwordStdin?: boolean; otp?: string; keyName: string; agent?: boolean; sshConfig: boolean; certificate: boolean; json?: boolean; insecureHttp?: boolean }) => {
      // Before any prompt: a password typed for a server it must not go to is already one too many.
      const server = checkSignInServer(opts.server, { insecureHttp: opts.insecureHttp === true });
      if (!/^[A-Za-z0-9._-]{1,32}$/.test(opts.keyName)) throw new AirlockError('bad_request', '--key-name may hold letters, digits, dot, dash and underscore only.');
      if (!opts.certificate && opts.agent) throw new AirlockError('bad_request', '--no-certificate issues no certificate to add to ssh-agent; leave out --agent.');
      let session: LoginResponse;
      if (opts.browser) {
        if (opts.passwordStdin || opts.otp) throw new AirlockError('bad_request', '--browser signs in in the browser; leave out --password-stdin and --otp.');
        session = await browserLogin(server, opts.user, say);
      } else {
        const password = opts.passwordStdin ? await readFirstLineOfStdin('password') : await prompt(`Password for ${opts.user}: `, { hidden: true, flag: '--password-stdin' });
        const otp = opts.otp ?? (await prompt('One-time code: ', { flag: '--otp CODE' })).trim();
        session = await apiRequest<LoginResponse>({ server }, 'POST', '/api/v1/login', { user: opts.user, password, otp });
      }

      if (!opts.certificate) {
        // A session for the API only (keys, certificate list): the quota counts certificates, not sign-ins.
        const paths = keyPaths(opts.keyName);
        saveSession({ server, user: session.user.name, token: session.token, token_expires_at: session.token_expires_at, key_path: paths.key, certificate_path: paths.cert });
        say(`Signed in as ${session.user.name} until ${session.token_expires_at}; no certificate was issued (none of your daily certificates used).`);
        say('Register a public key with: airlock keys add ~/.ssh/id_ed25519.pub');
        if (opts.json) outJson({ user: session.user.name, token_expires_at: session.token_expires_at, certificate: null });
        return;
      }

      // Generate the key here: only its public half is sent to the server.
      const { privateKey } = generateKeyPairSync('ed25519');
      const comment = `${opts.user}@airlock`;
      const publicKey = publicKeyFromKeyObject(createPublicKey(privateKey), comment);
      const cert = await apiRequest<CertificateResponse>({ server, token: session.token }, 'POST', '/api/v1/certificates', { public_key: formatPublicKey(publicKey, comment) });

      const paths = keyPaths(opts.keyName);
      ensurePrivateDir(dirname(paths.key));
      writeFileAtomic(paths.key, formatOpenSshPrivateKey(privateKey, comment), 0o600);
      writeFileAtomic(paths.pub, formatPublicKey(publicKey, comment) + '\n', 0o600);
      writeFileAtomic(paths.cert, cert.certificate + '\n', 0o600);
      saveSession({ server, user: session.user.name, token: session.token, token_expires_at: session.token_expires_at, key_path: paths.key, certificate_path: paths.cert });

      const remainingMs = Date.parse(cert.valid_before) - Date.now();
      say(`Signed in as ${session.user.name}. Certificate ${cert.serial} for ${cert.principals.join(', ')} is valid until ${cert.valid_before} (${formatDuration(remainingMs)}).`);
      say(`Key: ${paths.key}\nCertificate: ${paths.cert}`);
      let agentProblem: string | undefined;
      if (opts.agent) {
        agentProblem = addToAgent(paths.key, Math.max(1, Math.floor(remainingMs / 1000)));
        say(agentProblem ? `Not added to the agent: ${agentProblem}` : `Added to ssh-agent for ${formatDuration(remainingMs)}.`);
      } else {
        say(`To use it with ssh-agent: ssh-add -t ${Math.max(1, Math.floor(remainingMs / 1000))} ${paths.key}`);
      }
      if (opts.sshConfig) await refreshSshConfigAfterLogin();
      if (opts.json) {
        outJson({ user: session.user.name, key_path: paths.key, certificate_path: paths.cert, serial: cert.serial, valid_before: cert.valid_before, agent: opts.agent ? !agentProblem : false });
      }
      if (opts.agent && agentProblem) process.exitCode = 1;
    });

  program
    .command('logout')
    .description('Revoke your current certificate, end the session and delete the key and certificate files')
    .option('--keep-certificate', 'do not revoke the certificate on the server (it then stays valid until it expires)')
    .addHelpText('after', '\nExample:\n  airlock logout')
    .action(async (opts: { keepCertificate?: boolean }) => {
      const s = loadSession();
      if (!s) {
        say('You are not signed in; nothing to do.');
        return;
      }
      const problems: string[] = [];
      if (!opts.keepCertificate && existsSync(s.certificate_path)) {
        try {
          const cert = parseCertificate(readFileSync(s.certificate_path, 'utf8'));
          await apiRequest({ server: s.server, token: s.token }, 'DELETE', `/api/v1/certificates/${cert.serial}`);
          say(`Revoked certificate ${cert.serial}.`);
        } catch (err) {
          problems.push(`could not revoke the certificate (${(err as Error).message})`);
        }
      }
      try {
        await apiRequest({ server: s.server, token: s.token }, 'POST', '/api/v1/logout');
      } catch (err) {
        if (!(err instanceof AirlockError && err.code === 'unauthenticated')) problems.push(`could not end the session on the server (${(err as Error).message})`);
      }
      if (process.env.SSH_AUTH_SOCK && existsSync(s.key_path)) spawnSync('ssh-add', ['-d', s.key_path], { stdio: 'ignore' });
      for (const p of [s.key_path, `${s.key_path}.pub`, s.certificate_path]) rmSync(p, { force: true });
      clearSession();
      say('Signed out; key and certificate removed.');
      if (problems.length > 0) {
        say(`But: ${problems.join('; ')}.`);
        process.exitCode = 1;
      }
    });
}
