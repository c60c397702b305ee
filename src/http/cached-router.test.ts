/**
 * The memo in front of hono's router changes no answer: the same handlers, in the same order, with the
 * same parameters, first time and every time after; and it stays bounded whatever paths arrive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono, type MiddlewareHandler } from 'hono';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { SmartRouter } from 'hono/router/smart-router';
import { TrieRouter } from 'hono/router/trie-router';
import { CachedRouter } from './cached-router.ts';

const defaultRouter = <T>() => new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] });

/** Routes shaped like the app's: wildcard middleware at several levels, static and parameter routes side by side. */
function build(app: Hono): Hono {
  const mark = (name: string): MiddlewareHandler => async (c, next) => {
    c.header('x-trace', `${c.res.headers.get('x-trace') ?? ''}${name},`, { append: true });
    await next();
  };
  const answer = (name: string) => (c: Parameters<MiddlewareHandler>[0]) => c.json({ name, params: c.req.param(), path: c.req.routePath });
  app.use('*', mark('all'));
  app.use('/api/*', mark('api'));
  app.use('/admin/*', mark('admin'));
  app.use('/admin/certificates/*', mark('admin-certs'));
  app.get('/healthz', answer('healthz'));
  app.post('/api/v1/certificates', answer('issue'));
  app.get('/api/v1/certificates', answer('list'));
  app.post('/api/v1/certificates/revoke-all', answer('revoke-all'));
  app.delete('/api/v1/certificates/:serial', answer('revoke'));
  app.get('/api/v1/projects/:project/targets/:target', answer('target'));
  app.get('/api/v1/jobs/:id{[0-9a-f]+}', answer('job'));
  app.get('/admin/certificates', answer('admin-list'));
  app.post('/admin/certificates/revoke-user', answer('admin-revoke-user'));
  app.post('/admin/certificates/:serial/revoke', answer('admin-revoke'));
  app.get('/files/*', answer('files'));
  app.get('/opt/:a?', answer('optional'));
  app.notFound((c) => c.json({ name: 'not found', path: c.req.path }, 404));
  return app;
}

test('the cached router answers exactly as hono default router, on first and repeated matches', async () => {
  const plain = build(new Hono({ router: defaultRouter() }));
  const cached = build(new Hono({ router: new CachedRouter(defaultRouter()) }));
  const requests: [string, string][] = [
    ['GET', '/healthz'], ['POST', '/healthz'], ['HEAD', '/healthz'], ['POST', '/api/v1/certificates'], ['GET', '/api/v1/certificates'],
    ['POST', '/api/v1/certificates/revoke-all'], ['DELETE', '/api/v1/certificates/123'], ['DELETE', '/api/v1/certificates/456'],
    ['DELETE', '/api/v1/certificates/revoke-all'], ['GET', '/api/v1/projects/p1/targets/t1'], ['GET', '/api/v1/projects/p2/targets/t9'],
    ['GET', '/api/v1/jobs/abc123'], ['GET', '/api/v1/jobs/xyz'], ['GET', '/admin/certificates'], ['POST', '/admin/certificates/revoke-user'],
    ['POST', '/admin/certificates/77/revoke'], ['POST', '/admin/certificates/78/revoke'], ['GET', '/files/a/b/c'], ['GET', '/opt'], ['GET', '/opt/x'],
    ['GET', '/nowhere'], ['GET', '/api/nowhere'], ['GET', '/admin/certificates/x/y/z'], ['GET', '/api/v1/certificates/%41'], ['GET', '/'],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [method, path] of requests) {
      const a = await plain.request(path, { method });
      const b = await cached.request(path, { method });
      assert.equal(b.status, a.status, `${method} ${path} round ${round}`);
      assert.deepEqual([...b.headers], [...a.headers], `${method} ${path} round ${round}`);
      assert.equal(await b.text(), await a.text(), `${method} ${path} round ${round}`);
    }
  }
});

test('the memo stays bounded and long paths are not kept', () => {
  const router = new CachedRouter<string>(new TrieRouter());
  router.add('GET', '/x/:id', 'x');
  router.add('ALL', '*', 'all');
  for (let i = 0; i < 2000; i++) {
    const [handlers] = router.match('GET', `/x/${i}`);
    assert.deepEqual(handlers.map(([h, p]) => [h, { ...(p as Record<string, string>) }]), [['x', { id: String(i) }], ['all', {}]]);
    assert.ok(router.size <= 512, `size ${router.size}`);
  }
  const before = router.size;
  router.match('GET', `/x/${'a'.repeat(300)}`);
  assert.equal(router.size, before);
});
