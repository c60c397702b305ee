import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Target } from '../inventory/ports.ts';
import { decideForward } from '../policy/forward.ts';
import { lobbyClientOf, localPortFor, parseLobbyCommand, renderLobbyHelp, renderLobbyJson, renderLobbyText, type LobbyView } from './lobby.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const vm: Target = {
  id: 't1', name: 'vm1', projectId: 'p', projectName: 'genomics', host: '10.0.0.5', port: 22, loginUser: 'ubuntu',
  services: [{ name: 'jupyter', port: 8888, path: '/lab', token: 's3cr3t&x' }, { name: 'redis', port: 6379, path: null, token: null }, { name: 'web', port: 80, path: '/', token: null }],
  allowedCidrs: [], expiresAt: null, createdAt: 0,
};
const view = (over: Partial<LobbyView> = {}): LobbyView => ({
  userName: 'alice', method: 'certificate', serial: 42n, validBefore: NOW + 3_600_000, targets: [vm], gateway: { host: 'gw.example.org', port: 2222 }, now: NOW, ...over,
});

test('commands: nothing or hosts → text; hosts --json → JSON; help; anything else is unknown', () => {
  assert.deepEqual(parseLobbyCommand(undefined), { kind: 'text' });
  assert.deepEqual(parseLobbyCommand('  hosts '), { kind: 'text' });
  assert.deepEqual(parseLobbyCommand('hosts --json'), { kind: 'json' });
  assert.deepEqual(parseLobbyCommand('help'), { kind: 'help' });
  assert.deepEqual(parseLobbyCommand('rm -rf /'), { kind: 'unknown', command: 'rm -rf /' });
  assert.deepEqual(parseLobbyCommand('hosts --yaml'), { kind: 'unknown', command: 'hosts --yaml' });
});

test('the text names the user, the certificate expiry, each target and the exact commands', () => {
  const t = renderLobbyText(view());
  assert.match(t, /signed in as alice with certificate 42, valid until 2026-03-01T13:00:00Z \(1h left\)/);
  assert.match(t, /^vm1 {2}\(project genomics, 10\.0\.0\.5 port 22, login ubuntu\)$/m);
  assert.match(t, /^ {2}ssh -J alice@gw\.example\.org:2222 ubuntu@vm1$/m);
  assert.match(t, /^ {4}ssh -N -L 8888:vm1:8888 -p 2222 alice@gw\.example\.org$/m);
  assert.match(t, /then open http:\/\/127\.0\.0\.1:8888\/lab\?token=s3cr3t%26x$/m);
  assert.match(t, /ssh -N -L 6379:vm1:6379 /);
  assert.match(t, /ssh -N -L 10080:vm1:80 /, 'privileged ports get an unprivileged local port');
  assert.doesNotMatch(t, /127\.0\.0\.1:6379/, 'no URL for a non-HTTP service');
  assert.match(renderLobbyText(view({ targets: [] })), /You have no targets yet/);
});

test('an e-mail style user jumps as bob@uni.example (ssh splits at the last @) and logs in as bob_uni.example', () => {
  const t = renderLobbyText(view({ userName: 'bob@uni.example', targets: [{ ...vm, loginUser: null }] }));
  assert.match(t, /^ {2}ssh -J bob@uni\.example@gw\.example\.org:2222 bob_uni\.example@vm1$/m);
  assert.match(t, /^ {4}ssh -N -L 8888:vm1:8888 -p 2222 bob@uni\.example@gw\.example\.org$/m);
});

test('port 22 and IPv6 gateways are written the way ssh expects', () => {
  const t = renderLobbyText(view({ gateway: { host: '2001:db8::1', port: 22 }, targets: [{ ...vm, port: 2200, loginUser: null }] }));
  assert.match(t, /ssh -J alice@\[2001:db8::1\] -p 2200 alice@vm1/);
  assert.match(t, /ssh -N -L 8888:vm1:8888 alice@2001:db8::1/);
});

test('expired targets are hidden; JSON carries the same commands', () => {
  assert.doesNotMatch(renderLobbyText(view({ targets: [{ ...vm, expiresAt: NOW }] })), /vm1/);
  const j = JSON.parse(renderLobbyJson(view())) as { user: string; certificate: { serial: string }; targets: { name: string; ssh_command: string; services: { name: string; local_port: number; url: string | null; tunnel_command: string }[] }[] };
  assert.equal(j.user, 'alice');
  assert.equal(j.certificate.serial, '42');
  assert.equal(j.targets[0]!.ssh_command, 'ssh -J alice@gw.example.org:2222 ubuntu@vm1');
  assert.equal(j.targets[0]!.services[0]!.url, 'http://127.0.0.1:8888/lab?token=s3cr3t%26x');
  assert.equal(j.targets[0]!.services[1]!.url, null);
  assert.match(renderLobbyHelp(view()), /hosts --json/);
  assert.equal(localPortFor(22), 10022);
  assert.equal(localPortFor(8888), 8888);
});

test('a PuTTY client gets PuTTY settings and plink commands (-proxycmd, not -J) besides the ssh lines', () => {
  assert.equal(lobbyClientOf('PuTTY_Release_0.78'), 'putty');
  assert.equal(lobbyClientOf('OpenSSH_9.2p1'), 'other');
  assert.equal(lobbyClientOf(undefined), 'other');
  const t = renderLobbyText(view({ client: 'putty' }));
  assert.match(t, /You are using PuTTY/);
  assert.match(t, /^ {2}ssh -J alice@gw\.example\.org:2222 ubuntu@vm1$/m);
  assert.match(t, /^ {2}plink -proxycmd "plink -batch -P 2222 alice@gw\.example\.org -nc %host:%port" -P 22 ubuntu@vm1$/m);
  assert.match(t, /Connection > Proxy: "SSH to proxy/);
  assert.match(t, /^ {4}plink -N -L 127\.0\.0\.1:8888:vm1:8888 -P 2222 alice@gw\.example\.org$/m);
  assert.match(t, /Tunnels: Source port 10080, Destination vm1:80/);
  assert.doesNotMatch(t, /plink -J|plink[^\n]* -J /);
  // OpenSSH users are not shown PuTTY settings.
  assert.doesNotMatch(renderLobbyText(view({ client: 'other' })), /plink|PuTTY:/);
  const j = JSON.parse(renderLobbyJson(view())) as { targets: { plink_command: string }[] };
  assert.match(j.targets[0]!.plink_command, /^plink -proxycmd /);
});

test('targets the client\'s address may not reach are marked with the gateway\'s own reason', () => {
  const job: Target = { ...vm, id: 't2', name: 'job-5678', allowedCidrs: ['10.1.0.0/16'] };
  const broken: Target = { ...vm, id: 't3', name: 'job-bad', allowedCidrs: ['not a cidr'] };
  const t = renderLobbyText(view({ targets: [vm, job, broken], clientAddress: '192.0.2.7' }));
  assert.match(t, /^job-5678 .*\n {2}NOT REACHABLE from here: Target job-5678 cannot be reached from your address 192\.0\.2\.7\. /m);
  assert.match(t, /^job-bad .*\n {2}NOT REACHABLE from here: Target job-bad has an invalid client address restriction; ask an operator\./m);
  assert.doesNotMatch(t, /^vm1 .*\n {2}NOT REACHABLE/m);
  assert.doesNotMatch(renderLobbyText(view({ targets: [job], clientAddress: '10.1.2.3' })), /NOT REACHABLE/);
  const j = JSON.parse(renderLobbyJson(view({ targets: [vm, job], clientAddress: '192.0.2.7' }))) as { targets: { name: string; reachable: boolean; unreachable_reason: string | null }[] };
  assert.deepEqual(j.targets.map((x) => [x.name, x.reachable]), [['job-5678', false], ['vm1', true]]);
  // The mark and the gateway's refusal come from the same function.
  const refused = decideForward({ targets: [job], host: 'job-5678', port: 22, clientAddress: '192.0.2.7', ownListeners: [], now: NOW });
  assert.equal(refused.decision === 'deny' ? refused.message : '', j.targets[0]!.unreachable_reason);
});

test('jobs: each live job with its port and the ready ssh -p command (with -L for its services), in text and JSON', () => {
  const jobs = [
    { name: 'job-7', projectName: 'genomics', port: 40123, services: [{ name: 'jupyter', port: 8888 }], expiresAt: NOW + 7_200_000 },
    { name: 'old', projectName: 'genomics', port: 40124, services: [], expiresAt: NOW - 1 },
  ];
  const t = renderLobbyText(view({ jobs }));
  assert.match(t, /^Your jobs \(1\), each on its own port of this gateway:$/m);
  assert.match(t, /^job-7 {2}\(project genomics, until 2026-03-01T14:00:00Z\)$/m);
  assert.match(t, /^ {2}ssh -p 40123 -L 8888:localhost:8888 alice@gw\.example\.org$/m);
  assert.doesNotMatch(t, /40124/, 'an expired job is not shown');
  assert.match(renderLobbyText(view({ jobs, client: 'putty' })), /PuTTY: Host Name gw\.example\.org, Port 40123; or plink -P 40123 /);
  const j = JSON.parse(renderLobbyJson(view({ jobs }))) as { jobs: { name: string; port: number; ssh_command: string }[] };
  assert.deepEqual(j.jobs.map((x) => [x.name, x.port, x.ssh_command]), [['job-7', 40123, 'ssh -p 40123 -L 8888:localhost:8888 alice@gw.example.org']]);
});
