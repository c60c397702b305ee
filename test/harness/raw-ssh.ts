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
