/** Raw SSH transport pieces for tests that speak the protocol by hand (Terrapin, KEXINIT checks). */

/** An unencrypted binary packet (RFC 4253 §6): length, padding length, payload, ≥ 4 bytes of padding to a multiple of 8. */
export function packet(payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const out = Buffer.alloc(5 + payload.length + pad);
  out.writeUInt32BE(1 + payload.length + pad, 0);
  out[4] = pad;
  payload.copy(out, 5);
  return out;
}

/**
 * Parses what a server sends on `socket` before encryption starts: its identification line (given to
 * `onIdent`), then binary packets, each payload (a copy) given to `onPacket`.
 */
export function onServerStream(socket: { on(event: 'data', fn: (d: Buffer) => void): unknown }, onPacket: (payload: Buffer) => void, onIdent?: (ident: string) => void): void {
  let buf = Buffer.alloc(0);
  let identDone = false;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!identDone) {
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      identDone = true;
      onIdent?.(buf.subarray(0, nl).toString('latin1'));
      buf = buf.subarray(nl + 2);
    }
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      onPacket(Buffer.from(buf.subarray(5, 4 + len - buf[4]!)));
      buf = buf.subarray(4 + len);
    }
  });
}
