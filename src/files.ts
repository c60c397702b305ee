/** File helpers shared by the service and the CLI. */
import { chmodSync, renameSync, writeFileSync, rmSync } from 'node:fs';

/** Writes a file atomically (temp file + rename) with the given mode, so readers never see half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, data, { mode });
    chmodSync(tmp, mode); // the umask may have narrowed or the file pre-existed
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
