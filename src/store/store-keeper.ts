import type { Store, StoreSnapshot } from './store.js';

// SQLite's words for a file that is no database (any more): random bytes written over it.
const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

export interface StoreKeeperOptions {
  readonly now: () => number;
  /** What the daemon holds, for a store recreated over a damaged file. */
  readonly snapshot: () => StoreSnapshot;
  /** Said once per incident, for the log and an alert. */
  readonly onRecreated: (text: string) => void;
}

/**
 * Keeps the state database a file on disk while the daemon runs: before each write batch it
 * checks that the path still names the file it opened (an `rm state.db*`, or a file put in its
 * place, would let every write go to a deleted inode and the next start find no bans), and
 * after a write that found the file damaged. Either way the store is recreated at its path and
 * the admins are told; nothing in it is lost that the daemon still holds.
 */
export class StoreKeeper {
  constructor(
    private readonly store: Store,
    private readonly o: StoreKeeperOptions,
  ) {}

  /** Before a write batch: the file is still ours, or it is made so. */
  check(): void {
    const state = this.store.fileState();
    if (state === 'same') return;
    const moved = this.store.recreate({ copy: true }, this.o.now());
    this.o.onRecreated(
      `state database ${this.store.file} was ${state === 'deleted' ? 'deleted' : 'replaced by another file'} while the daemon ran: recreated from the copy still open (bans, history, audit kept)${moved ? `; the other file was moved to ${moved}` : ''}`,
    );
  }

  /** After a failed write batch: true when the file was damaged and a new one now stands in its place. */
  recover(error: unknown): boolean {
    if (!DAMAGED.test((error as { code?: string }).code ?? '')) return false;
    const snapshot = this.o.snapshot();
    const moved = this.store.recreate({ snapshot }, this.o.now());
    this.o.onRecreated(
      `state database ${this.store.file} was damaged under the running daemon (${(error as Error).message}): moved to ${moved ?? '(gone)'} and recreated from memory with ${snapshot.bans.length} bans in force and ${snapshot.trust.length} trusted sources; the history of ended bans and the audit stay in the moved file`,
    );
    return true;
  }
}
