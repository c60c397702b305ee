/** A minimal browser for the server-rendered pages over fetch: a cookie jar, forms, no redirects followed. */
export interface PageResponse {
  status: number;
  text: string;
  location: string | null;
}

export class WebClient {
  readonly cookies = new Map<string, string>();
  readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  get(path: string): Promise<PageResponse> {
    return this.#send(path, { method: 'GET', headers: {} });
  }

  /** POSTs a form, adding the CSRF token from the cookie. */
  post(path: string, form: Record<string, string>): Promise<PageResponse> {
    const body = new URLSearchParams({ csrf: this.cookies.get('__Host-airlock_csrf') ?? '', ...form }).toString();
    return this.#send(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  }

  async #send(path: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<PageResponse> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.base + path, { ...init, redirect: 'manual', headers: { ...init.headers, ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), value);
    }
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }
}
