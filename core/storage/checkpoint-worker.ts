// The WAL checkpointer's thread (see checkpointer.ts): its own connection to the database, which
// copies committed WAL frames back into the database file when told to. A PASSIVE checkpoint
// never blocks the writer or the readers; with synchronous=NORMAL it syncs the WAL before copying
// and the database file after, exactly as the writer's own automatic checkpoint would.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

export type CheckpointCommand = 'catch-up' | 'final' | 'close';
export interface CheckpointReply {
  /** Frames in the WAL at the last pass. */
  frames: number;
  /** Whether commits arrived during the last pass (so the WAL was not all copied at its end). */
  behind: boolean;
}

/** Passes of one catch-up at most: each copies what was committed while the previous one ran. */
const MAX_PASSES = 4;

const db = new Database((workerData as { path: string }).path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
// A checkpoint copies frames straight from the WAL; it needs no page cache of its own.
db.pragma('cache_size = -256');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

function pass(): { busy: number; log: number; checkpointed: number } {
  return checkpoint.get() as { busy: number; log: number; checkpointed: number };
}

function run(command: CheckpointCommand): CheckpointReply {
  if (command === 'final') {
    // The writer is holding its next transaction back: one pass copies everything.
    const { log } = pass();
    return { frames: log, behind: false };
  }
  let frames = -1;
  for (let i = 0; i < MAX_PASSES; i++) {
    const { busy, log, checkpointed } = pass();
    if (busy) break;
    if (log === frames && checkpointed >= log) return { frames, behind: false };
    frames = log;
  }
  return { frames, behind: true };
}

parentPort!.on('message', (command: CheckpointCommand) => {
  if (command === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let reply: CheckpointReply;
  try {
    reply = run(command);
  } catch {
    // Failing now (the writer's automatic checkpoint is the fallback): report nothing to do.
    reply = { frames: 0, behind: false };
  }
  parentPort!.postMessage(reply);
});
