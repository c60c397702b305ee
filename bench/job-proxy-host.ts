/**
 * The process under test of bench/job-proxy.ts: the per-job proxy's world (test/harness/job-proxy-world.ts:
 * Airlock's CA and store, a real sshd as the job, the ssh2 front server handing each login to the proxy),
 * in a process of its own so that its CPU and memory are the proxy's alone. Prints one JSON line with
 * what the benchmark needs, then runs until its standard input closes.
 */
import { readFileSync } from 'node:fs';
import { startJobProxyWorld } from '../test/harness/job-proxy-world.ts';
import { processTree } from './proc-stats.ts';

const w = await startJobProxyWorld({
  // SHLVL=1 keeps Debian's bash from reading root's ~/.bashrc for each command (bench/gateway-world.ts);
  // MaxStartups: the idle section logs in up to 32 proxied sessions at once.
  sshdExtra: ['SetEnv SHLVL=1', 'MaxStartups 200'],
});
const comm = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};
const jobSshdPid = processTree(process.pid).find((p) => p !== process.pid && comm(p) === 'sshd') ?? 0;
process.stdout.write(JSON.stringify({
  frontPort: w.front.port, frontKnownHosts: readFileSync(w.front.knownHosts, 'utf8'), key: w.key, directCert: w.directCert,
  jobPort: w.job.port, jobHostKey: w.jobHostKey, sshdConfig: w.sshdConfig, dir: w.dir, jobSshdPid,
}) + '\n');
process.stdin.resume();
process.stdin.once('end', () => {
  void w.stop().then(() => process.exit(0));
});
