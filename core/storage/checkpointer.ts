// Checkpoints of the WAL on a thread of their own. A checkpoint copies the pages that commits
// appended to the WAL back into the database file and syncs both files: with a large database
// those pages lie all over the file, and run by the writer (SQLite's automatic checkpoint, inside
// a COMMIT) that work and its fsyncs stalled the event loop for up to a second at a time.
//
// Here a worker thread copies the frames beside the event loop. One thing it cannot do alone:
// SQLite starts the WAL over from its beginning only in a write transaction that began when every
// frame was already copied, and under a steady stream of group commits the next transaction has
// always begun before the copying ends. So once the WAL is large enough to be worth it, the store
// holds its next group commit back (reads go on; writes queue up and go in one larger group) while
// the thread copies the last few frames, and that group then starts the WAL over. The writer's
// own automatic checkpoint stays on as the fallback, should the thread fail.

import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CheckpointCommand, CheckpointReply } from './checkpoint-worker.js';

// Compiled, the worker is dist/core/storage/checkpoint-worker.js; under tap it is the .ts source,
// which the inherited loader runs (as for the crypto pool).
const WORKER_FILE = fileURLToPath(new URL(`./checkpoint-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** Pause between two catch-ups. */
const INTERVAL_MS = 250;

/** WAL size (frames, of one page each) from which the WAL is started over: 16 MiB. */
const RESTART_FRAMES = 4096;

/** Longest that writes are held back for the last frames; past it they go on (no restart then). */
const HOLD_MS = 250;

/** Runs `work` while no write transaction is open and none begins. */
export type HoldWrites = (work: () => Promise<void>) => Promise<void>;

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<unknown>;
  private readonly replies: ((reply: CheckpointReply) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    databasePath: string,
    private readonly holdWrites: HoldWrites,
  ) {
    this.worker = new Worker(WORKER_FILE, { workerData: { path: databasePath } });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.on('message', (reply: CheckpointReply) => this.replies.shift()?.(reply));
    // A failed thread answers nothing more; the writer's automatic checkpoint takes over.
    this.worker.on('error', () => {});
    void this.exited.then(() => {
      for (const resolve of this.replies.splice(0)) resolve({ frames: 0, behind: false });
    });
    this.worker.unref();
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.cycle = this.checkpoint().finally(() => {
        if (!this.closed) this.schedule();
      });
    }, INTERVAL_MS);
    this.timer.unref();
  }

  private command(command: Exclude<CheckpointCommand, 'close'>): Promise<CheckpointReply> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.worker.postMessage(command);
    });
  }

  private async checkpoint(): Promise<void> {
    // Even when the last pass found nothing new, a transaction that began before it may still
    // commit: hold the writes back for the restart all the same (the final pass is then empty).
    const { frames } = await this.command('catch-up');
    if (frames < RESTART_FRAMES || this.closed) return;
    await this.holdWrites(async () => {
      let expired: NodeJS.Timeout | undefined;
      await Promise.race([
        this.command('final'),
        new Promise((resolve) => (expired = setTimeout(resolve, HOLD_MS))),
      ]);
      clearTimeout(expired);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // Unreferenced, the thread would not keep the process alive until it has answered and closed.
    this.worker.ref();
    await this.cycle;
    this.worker.postMessage('close');
    await this.exited;
  }
}
