import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Target } from '../inventory/ports.ts';
import { decideForward, type ForwardRequest } from './forward.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');

function target(over: Partial<Target> = {}): Target {
  return {
    id: 't1', name: 'vm1', projectId: 'p1', projectName: 'genomics', host: '10.0.0.5', port: 22, loginUser: 'ubuntu',
    services: [{ name: 'jupyter', port: 8888, path: '/lab', token: 'tok' }], allowedCidrs: [], expiresAt: null, createdAt: NOW - 1000,
    ...over,
  };
}

function req(over: Partial<ForwardRequest> = {}): ForwardRequest {
  return { targets: [target()], host: 'vm1', port: 22, clientAddress: '192.0.2.10', ownListeners: [{ address: '0.0.0.0', port: 2222 }], now: NOW, ...over };
}

const reason = (r: ForwardRequest): string => {
  const d = decideForward(r);
  return d.decision === 'deny' ? d.reason : d.decision;
};

test('a target by name, by address and its service port is allowed; the address dialled is the registered one', () => {
  assert.deepEqual(decideForward(req()), { decision: 'allow', target: target(), address: '10.0.0.5', port: 22 });
  const byAddr = decideForward(req({ host: '10.0.0.5', port: 8888 }));
  assert.equal(byAddr.decision, 'allow');
  assert.equal(byAddr.decision === 'allow' && byAddr.address, '10.0.0.5');
  assert.equal(reason(req({ host: 'VM1.' })), 'allow');
  assert.equal(reason(req({ host: '::ffff:10.0.0.5' })), 'allow');
});

test('refusals carry stable reasons', () => {
  assert.equal(reason(req({ host: 'vm2' })), 'not_a_target');
  assert.equal(reason(req({ host: '10.0.0.6' })), 'not_a_target');
  assert.equal(reason(req({ port: 23 })), 'port_not_allowed');
  assert.equal(reason(req({ port: 0 })), 'invalid_port');
  assert.equal(reason(req({ port: 70000 })), 'invalid_port');
  assert.equal(reason(req({ host: 'a b' })), 'invalid_host');
  assert.equal(reason(req({ targets: [target({ expiresAt: NOW })] })), 'target_expired');
  assert.equal(reason(req({ targets: [target({ expiresAt: NOW + 1 })] })), 'allow');
  assert.equal(reason(req({ targets: [target({ allowedCidrs: ['198.51.100.0/24'] })] })), 'client_address_not_allowed');
  assert.equal(reason(req({ targets: [target({ allowedCidrs: ['192.0.2.0/24'] })] })), 'allow');
  assert.equal(reason(req({ targets: [target({ allowedCidrs: ['192.0.2.0/24'] })], clientAddress: '::ffff:192.0.2.9' })), 'allow');
  assert.equal(reason(req({ targets: [target({ allowedCidrs: ['not a cidr'] })] })), 'invalid_target');
  assert.equal(reason(req({ targets: [target({ host: '127.0.0.1' })] })), 'forbidden_address');
  assert.equal(reason(req({ host: '169.254.169.254', port: 80 })), 'forbidden_address');
  assert.equal(reason(req({ host: 'localhost' })), 'forbidden_address');
});

test('a DNS-named target is resolved by the caller, once; every resolved address must pass', () => {
  const t = target({ host: 'vm1.cloud.example.org' });
  const first = decideForward(req({ targets: [t] }));
  assert.deepEqual(first, { decision: 'resolve', target: t, name: 'vm1.cloud.example.org' });
  assert.equal(reason(req({ targets: [t], host: 'VM1.cloud.example.org.' })), 'resolve');
  const ok = decideForward(req({ targets: [t], resolvedAddresses: ['10.1.1.1', '2001:db8::5'] }));
  assert.equal(ok.decision === 'allow' && ok.address, '10.1.1.1');
  assert.equal(reason(req({ targets: [t], resolvedAddresses: ['10.1.1.1', '127.0.0.1'] })), 'forbidden_address');
  assert.equal(reason(req({ targets: [t], resolvedAddresses: [] })), 'unresolvable');
});

test('loopback targets only with the test switch; link-local and metadata never; own listeners never', () => {
  const lo = target({ host: '127.0.0.2' });
  assert.equal(reason(req({ targets: [lo], host: '127.0.0.2' })), 'forbidden_address');
  assert.equal(reason(req({ targets: [lo], host: '127.0.0.2', allowLoopback: true })), 'allow');
  assert.equal(reason(req({ host: '127.0.0.2', port: 2222, allowLoopback: true, targets: [target({ host: '127.0.0.2', port: 2222 })] })), 'own_listener');
  assert.equal(reason(req({ targets: [target({ host: '169.254.169.254', port: 80 })], host: '169.254.169.254', port: 80, allowLoopback: true })), 'forbidden_address');
  const own = req({ targets: [target({ host: '10.9.9.9', port: 2222 })], host: '10.9.9.9', port: 2222, localAddresses: ['10.9.9.9'] });
  assert.equal(reason(own), 'own_listener');
  assert.equal(reason({ ...own, localAddresses: [] }), 'allow');
  assert.equal(reason(req({ targets: [target({ host: '10.0.0.5', port: 8080 })], host: 'vm1', port: 8080, ownListeners: [{ address: '10.0.0.5', port: 8080 }] })), 'own_listener');
});

// ---- hostile forms (property tests) ----

const byte = fc.integer({ min: 0, max: 255 });

/** An IPv4 address written any way a resolver would accept. */
function v4Forms(bytes: number[]): fc.Arbitrary<string> {
  const [a, b, c, d] = bytes as [number, number, number, number];
  const n = ((a * 256 + b) * 256 + c) * 256 + d;
  const part = (v: number): fc.Arbitrary<string> => fc.constantFrom(String(v), `0x${v.toString(16)}`, `0X${v.toString(16).toUpperCase()}`, v === 0 ? '00' : `0${v.toString(8)}`);
  const hex4 = (x: number, y: number) => ((x << 8) | y).toString(16);
  return fc.oneof(
    fc.tuple(part(a), part(b), part(c), part(d)).map((p) => p.join('.')),
    fc.tuple(part(a), part(b), part(c * 256 + d)).map((p) => p.join('.')),
    fc.tuple(part(a), part((b * 256 + c) * 256 + d)).map((p) => p.join('.')),
    part(n),
    fc.constant(`${a}.${b}.${c}.${d}.`),
    fc.constantFrom(`::ffff:${a}.${b}.${c}.${d}`, `::FFFF:${hex4(a, b)}:${hex4(c, d)}`, `0:0:0:0:0:ffff:${hex4(a, b)}:${hex4(c, d)}`, `[::ffff:${a}.${b}.${c}.${d}]`),
    fc.constantFrom(`::${a}.${b}.${c}.${d}`, `64:ff9b::${a}.${b}.${c}.${d}`, `2002:${hex4(a, b)}:${hex4(c, d)}::1`),
  );
}

/** An IPv6 address written with and without compression, case changes, brackets and a zone ID. */
function v6Forms(groups: number[]): fc.Arbitrary<string> {
  const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
  const short = groups.map((g) => g.toString(16)).join(':');
  return fc.tuple(fc.constantFrom(full, short, full.toUpperCase()), fc.boolean(), fc.constantFrom('', '%eth0', '%1', '%lo')).map(([s, br, zone]) => (br ? `[${s}${zone}]` : `${s}${zone}`));
}

const loopbackV4 = fc.tuple(fc.constant(127), byte, byte, byte);
const linkLocalV4 = fc.tuple(fc.constant(169), fc.constant(254), byte, byte);
const zeroNetV4 = fc.tuple(fc.constant(0), byte, byte, byte);
const linkLocalV6 = fc.tuple(fc.integer({ min: 0xfe80, max: 0xfebf }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 7, maxLength: 7 })).map(([g, rest]) => [g, ...rest]);

const forbiddenForm = fc.oneof(
  fc.oneof(loopbackV4, linkLocalV4, zeroNetV4).chain((t) => v4Forms(t)),
  linkLocalV6.chain((g) => v6Forms(g)),
  v6Forms([0, 0, 0, 0, 0, 0, 0, 1]),
  v6Forms([0, 0, 0, 0, 0, 0, 0, 0]),
  fc.constantFrom('localhost', 'LOCALHOST.', 'x.localhost', 'ip6-localhost'),
);

test('no spelling of a loopback, link-local or unspecified address is ever allowed, even as a registered target (property)', () => {
  fc.assert(
    fc.property(forbiddenForm, forbiddenForm, fc.integer({ min: 1, max: 65535 }), fc.boolean(), (host, registered, port, asName) => {
      // The worst case: the operator (or an orchestrator) registered the forbidden address itself,
      // with the requested port open, for this very user.
      const targets = [
        target({ name: 'evil', host: registered, port }),
        target({ name: 'evil2', host, port }),
        target({ name: 'named', host: 'evil.example.org', port }),
      ];
      for (const h of [host, asName ? 'evil' : 'evil2']) {
        const d = decideForward(req({ targets, host: h, port }));
        assert.notEqual(d.decision, 'allow', `${h} (${host} / ${registered}) was allowed`);
      }
      // A DNS name resolving to it is refused too.
      const d = decideForward(req({ targets, host: 'named', port, resolvedAddresses: ['10.0.0.1', host.replace(/^\[|\]$/g, '').replace(/%.*$/, '')] }));
      assert.notEqual(d.decision, 'allow');
    }),
    { numRuns: 3000 },
  );
});

test('with loopback targets switched on (tests only), link-local, metadata and own listeners stay refused (property)', () => {
  const noLoop = fc.oneof(linkLocalV4.chain((t) => v4Forms(t)), linkLocalV6.chain((g) => v6Forms(g)), zeroNetV4.chain((t) => v4Forms(t)));
  fc.assert(
    fc.property(noLoop, fc.integer({ min: 1, max: 65535 }), (host, port) => {
      const d = decideForward(req({ targets: [target({ name: 'x', host, port })], host, port, allowLoopback: true }));
      assert.notEqual(d.decision, 'allow', host);
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(loopbackV4.chain((t) => v4Forms(t)), fc.integer({ min: 1, max: 65535 }), (host, port) => {
      // The gateway listens on 0.0.0.0:port: every loopback spelling at that port is the gateway.
      const d = decideForward(req({ targets: [target({ name: 'x', host, port })], host, port, allowLoopback: true, ownListeners: [{ address: '0.0.0.0', port }] }));
      // Real loopback spellings are the gateway itself; IPv6 forms embedding 127.x are forbidden outright.
      assert.ok(d.decision === 'deny' && (d.reason === 'own_listener' || d.reason === 'forbidden_address'), host);
    }),
    { numRuns: 1000 },
  );
});

test('a target of someone else is indistinguishable from no target (property over names)', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/), (name) => {
      fc.pre(name !== 'vm1');
      const d = decideForward(req({ host: name }));
      assert.equal(d.decision === 'deny' && d.reason, 'not_a_target');
      assert.ok(d.decision === 'deny' && d.message.includes('is not one of your targets'));
    }),
    { numRuns: 300 },
  );
});
