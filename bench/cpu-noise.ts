// How much CPU other processes used while a scenario ran: everything the machine was busy with
// (/proc/stat) minus what the bench and the server under test used (/proc/<pid>/stat). On a
// shared 2-core machine this is the difference between a figure and noise, so the table shows it.
// Also what the server itself used, all its threads together (event loop, worker threads, V8's
// GC helpers): per operation, the figure that a CPU profile of one thread cannot give.
import { readFileSync } from 'node:fs';

export interface CpuSnapshot {
  at: bigint;
  busyTicks: number;
  oursTicks: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function machineBusyTicks(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return user + nice + system + irq + softirq + steal;
  } catch {
    return undefined;
  }
}

function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces; the fields that follow start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  } catch {
    return 0;
  }
}

export function cpuSnapshot(pids: readonly number[]): CpuSnapshot | undefined {
  const busy = machineBusyTicks();
  if (busy === undefined) return undefined;
  return { at: process.hrtime.bigint(), busyTicks: busy, oursTicks: pids.reduce((sum, pid) => sum + processTicks(pid), 0) };
}

/** CPU (in cores: 1 = one core fully) used by other processes between two snapshots. */
export function otherCpuCores(before: CpuSnapshot | undefined, after: CpuSnapshot | undefined): number | undefined {
  if (!before || !after) return undefined;
  const seconds = Number(after.at - before.at) / 1e9;
  if (seconds <= 0) return undefined;
  const other = after.busyTicks - before.busyTicks - (after.oursTicks - before.oursTicks);
  return Math.max(0, other / TICKS_PER_SECOND / seconds);
}

export interface WindowCpu {
  /** Other processes' CPU, in cores. */
  otherCores?: number;
  /** CPU seconds the server process used, all threads. */
  serverSeconds?: number;
}

/**
 * Starts a measured window for the bench process and the server's processes (`serverPids`: one,
 * or a core and a gateway-and-core for the rows of two cores); call the result at its end.
 */
export function cpuWindow(serverPids: readonly number[]): () => WindowCpu {
  const pids = [process.pid, ...serverPids];
  const before = cpuSnapshot(pids);
  const serverTicks = () => serverPids.reduce((sum, pid) => sum + processTicks(pid), 0);
  const serverBefore = serverTicks();
  return () => ({
    otherCores: otherCpuCores(before, cpuSnapshot(pids)),
    serverSeconds: (serverTicks() - serverBefore) / TICKS_PER_SECOND,
  });
}
