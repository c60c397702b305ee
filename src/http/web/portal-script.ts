/// <reference lib="dom" />
/**
 * The portal's one script, served as /assets/portal.js (never inline: the CSP forbids that). Every
 * page works without it; it adds copy buttons and, on the certificate page, generates an Ed25519 key
 * pair in the browser with WebCrypto. The private key never leaves the page: only the public key is
 * posted (to the same form endpoint the no-script path uses), and the private key is written into an
 * OpenSSH private key file (PROTOCOL.key, unencrypted) that the browser saves directly.
 *
 * The code is one self-contained function whose source text is served; it is plain TypeScript so that
 * the type checker and linter see it, and its key encoding is unit-tested in Node against ssh-keygen.
 */

/** Encodes an OpenSSH private key file for an Ed25519 key (PROTOCOL.key; no passphrase). Runs in the page. */
export function encodeOpenSshEd25519(seed: Uint8Array, publicKey: Uint8Array, comment: string, check: number): string {
  const enc = new TextEncoder();
  const parts: number[] = [];
  const u32 = (out: number[], n: number) => { out.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255); };
  const str = (out: number[], b: Uint8Array | number[]) => { u32(out, b.length); for (const x of b) out.push(x); };
  const pubBlob: number[] = [];
  str(pubBlob, enc.encode('ssh-ed25519'));
  str(pubBlob, publicKey);
  const priv: number[] = [];
  u32(priv, check);
  u32(priv, check);
  str(priv, enc.encode('ssh-ed25519'));
  str(priv, publicKey);
  const secret = new Uint8Array(64);
  secret.set(seed, 0);
  secret.set(publicKey, 32);
  str(priv, secret);
  str(priv, enc.encode(comment));
  // Pad to the cipher block size (8 for "none") with 1, 2, 3, … (PROTOCOL.key).
  for (let i = 1; priv.length % 8 !== 0; i++) priv.push(i);
  for (const x of enc.encode('openssh-key-v1')) parts.push(x);
  parts.push(0);
  str(parts, enc.encode('none'));
  str(parts, enc.encode('none'));
  str(parts, new Uint8Array(0));
  u32(parts, 1);
  str(parts, pubBlob);
  str(parts, priv);
  let bin = '';
  for (const x of parts) bin += String.fromCharCode(x);
  const b64 = btoa(bin);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/**
 * Encodes a PuTTY private key file (PPK version 3, unencrypted; PuTTY manual appendix C) for an Ed25519
 * key, the same bytes src/cli/ppk.ts writes. Runs in the page. The MAC is HMAC-SHA-256 with an empty
 * key, computed from two SHA-256 digests (RFC 2104: K0 is 64 zero bytes) because WebCrypto refuses a
 * zero-length HMAC key.
 */
export async function encodePpkEd25519(seed: Uint8Array, publicKey: Uint8Array, comment: string, sha256: (data: Uint8Array<ArrayBuffer>) => Promise<Uint8Array>): Promise<string> {
  const enc = new TextEncoder();
  const str = (out: number[], b: Uint8Array | number[]) => { out.push((b.length >>> 24) & 255, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255); for (const x of b) out.push(x); };
  const pubBlob: number[] = [];
  str(pubBlob, enc.encode('ssh-ed25519'));
  str(pubBlob, publicKey);
  const privBlob: number[] = [];
  str(privBlob, seed);
  const macInput: number[] = [];
  str(macInput, enc.encode('ssh-ed25519'));
  str(macInput, enc.encode('none'));
  str(macInput, enc.encode(comment));
  str(macInput, pubBlob);
  str(macInput, privBlob);
  const pad = (byte: number, rest: Uint8Array | number[]) => { const out = new Uint8Array(64 + rest.length); out.fill(byte, 0, 64); out.set(rest, 64); return out; };
  const inner = await sha256(pad(0x36, macInput));
  const mac = await sha256(pad(0x5c, inner));
  const hex = Array.from(mac, (x) => x.toString(16).padStart(2, '0')).join('');
  const lines = (b: number[]) => { let bin = ''; for (const x of b) bin += String.fromCharCode(x); const t = btoa(bin); const out: string[] = []; for (let i = 0; i < t.length; i += 64) out.push(t.slice(i, i + 64)); return out; };
  const pubLines = lines(pubBlob);
  const privLines = lines(privBlob);
  return [
    'PuTTY-User-Key-File-3: ssh-ed25519', 'Encryption: none', `Comment: ${comment}`, `Public-Lines: ${pubLines.length}`, ...pubLines,
    `Private-Lines: ${privLines.length}`, ...privLines, `Private-MAC: ${hex}`, '',
  ].join('\n');
}

/** The script that runs in the page (self-contained: it is served as its own source text). */
export function portalScript(encode: typeof encodeOpenSshEd25519, encodePpk: typeof encodePpkEd25519): void {
  const copyButtons = () => {
    for (const target of Array.from(document.querySelectorAll<HTMLElement>('[data-copy]'))) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy secondary';
      button.textContent = 'Copy';
      button.setAttribute('aria-label', `Copy ${target.dataset.copy ?? 'text'}`);
      button.addEventListener('click', () => {
        void navigator.clipboard.writeText(target.textContent ?? '').then(() => { button.textContent = 'Copied'; }, () => { button.textContent = 'Select and copy'; });
      });
      target.insertAdjacentElement('afterend', button);
    }
  };
  const b64 = (bytes: Uint8Array) => { let s = ''; for (const x of bytes) s += String.fromCharCode(x); return btoa(s); };
  const fromB64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0));
  const download = (name: string, text: string, label = `Download ${name} again`) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'application/octet-stream' }));
    a.download = name;
    a.textContent = label;
    a.className = 'button secondary';
    a.id = `download-${name.replace(/[^a-z0-9]/g, '-')}`;
    return a;
  };
  const keygen = () => {
    const button = document.getElementById('generate');
    const section = document.getElementById('browser-key');
    const out = document.getElementById('generated');
    const form = document.getElementById('sign-form') as HTMLFormElement | null;
    if (!button || !section || !out || !form) return;
    if (!('crypto' in window) || !crypto.subtle) return;
    section.classList.remove('hidden');
    button.addEventListener('click', () => {
      void (async () => {
        out.textContent = 'Generating a key pair in this page…';
        try {
          const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
          const pub = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
          const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
          const seed = fromB64url(jwk.d ?? '');
          const blob: number[] = [];
          const put = (b: Uint8Array) => { blob.push((b.length >>> 24) & 255, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255, ...b); };
          put(new TextEncoder().encode('ssh-ed25519'));
          put(pub);
          const comment = 'airlock-web-key';
          const publicLine = `ssh-ed25519 ${b64(new Uint8Array(blob))} ${comment}`;
          const check = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
          const privateText = encode(seed, pub, comment, check);
          const ppkText = await encodePpk(seed, pub, comment, async (d) => new Uint8Array(await crypto.subtle.digest('SHA-256', d)));
          // Only the public key goes to the server, through the same form the no-script path posts.
          const body = new URLSearchParams();
          body.set('csrf', (form.elements.namedItem('csrf') as HTMLInputElement).value);
          body.set('public_key', publicLine);
          const res = await fetch(form.action, { method: 'POST', body, credentials: 'same-origin', headers: { Accept: 'text/plain' } });
          const text = await res.text();
          if (!res.ok) { out.textContent = text; out.className = 'error'; return; }
          out.textContent = '';
          out.className = 'ok';
          const p = document.createElement('p');
          p.id = 'generated-done';
          p.textContent = 'Your key pair and certificate are ready. The private key was made in this page and was never sent anywhere.';
          out.append(p, download('airlock-key', privateText), download('airlock-key-cert.pub', text), download('airlock-key.pub', `${publicLine}\n`), download('airlock-key.ppk', ppkText, 'Download airlock-key.ppk for PuTTY'));
          // The three OpenSSH files download at once; the .ppk only when a PuTTY user asks for it.
          for (const a of Array.from(out.querySelectorAll('a')).slice(0, 3)) a.click();
        } catch (err) {
          out.className = 'error';
          out.textContent = `This browser could not generate an Ed25519 key (${String(err)}). Paste a public key instead.`;
        }
      })();
    });
  };
  // Time left on certificates counts down while the page is open (the server's text is the fallback).
  const countdowns = () => {
    const els = Array.from(document.querySelectorAll<HTMLElement>('[data-until]'));
    if (els.length === 0) return;
    const tick = () => {
      for (const el of els) {
        const left = Math.max(0, Number(el.dataset.until) - Date.now());
        const h = Math.floor(left / 3_600_000);
        const m = Math.floor((left % 3_600_000) / 60_000);
        el.textContent = left === 0 ? 'expired' : h > 0 ? `${h}h ${m}m` : `${m}m`;
      }
    };
    tick();
    setInterval(tick, 30_000);
  };
  copyButtons();
  keygen();
  countdowns();
}

/** The text served as /assets/portal.js. */
export function portalScriptSource(): string {
  return `"use strict";\n(${portalScript.toString()})(${encodeOpenSshEd25519.toString()}, ${encodePpkEd25519.toString()});\n`;
}
