/**
 * Rekeying by volume and by time (RFC 4253 §9 recommends after 1 GB or an hour): ssh2 never rekeys by
 * itself. The volume is checked when data arrives from the client and from each target, so both
 * directions are covered without a timer or any per-packet allocation.
 */
import type { Conn, GatewayContext } from './gateway-conn.ts';

/** Re-arms the byte budget and the clock after each completed key exchange (registered with the connection). */
export function watchRekeys(ctx: GatewayContext, conn: Conn): void {
  conn.client?.on('rekey', () => {
    conn.rekeying = false;
    ctx.counters.rekeys++;
    conn.rekeyAtBytes = conn.socket.bytesRead + conn.socket.bytesWritten + ctx.cfg.rekeyBytes;
    conn.rekeyTimer?.refresh();
  });
}

/** Sets the byte budget of a connection that has just authenticated. */
export function setRekeyBudget(ctx: GatewayContext, conn: Conn): void {
  conn.rekeyAtBytes = conn.socket.bytesRead + conn.socket.bytesWritten + ctx.cfg.rekeyBytes;
}

/** Starts the rekey clock of an authenticated connection. */
export function startRekeyTimer(ctx: GatewayContext, conn: Conn): void {
  conn.rekeyTimer = setTimeout(() => rekey(conn), ctx.cfg.rekeyIntervalMs);
  conn.rekeyTimer.unref();
}

/** Rekeys when the connection has carried its byte budget since the last key exchange. */
export function rekeyIfDue(conn: Conn): void {
  if (!conn.rekeying && conn.socket.bytesRead + conn.socket.bytesWritten >= conn.rekeyAtBytes) rekey(conn);
}

function rekey(conn: Conn): void {
  if (conn.rekeying || conn.client === null || conn.socket.destroyed) return;
  conn.rekeying = true;
  // Rekeying again is re-armed by the 'rekey' event; the time limit restarts as well.
  conn.rekeyTimer?.refresh();
  conn.client.rekey();
}
