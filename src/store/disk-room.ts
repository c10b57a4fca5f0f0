// Room left on the file system that holds the state database. A full disk is found by a write
// that fails, and a guard that writes nothing for a while (no attack, or only blocklisted
// sources, dropped before they fail) would find it late: the soak's disk-full fault with a
// blocklisted wave went untold. So the room is looked at, and told while bans still record.

/** Told below this much room: the WAL checkpoints every 4 MB, and the next attack's record needs some. */
export const LOW_ROOM_BYTES = 16 * 1024 * 1024;
/** ... and told again once this much is free. */
const ROOMY_BYTES = 32 * 1024 * 1024;

export type DiskRoomChange = { readonly kind: 'store-disk-low' | 'store-disk-restored'; readonly text: string };

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

/** One look after another at the free bytes; pure: the caller asks the file system. */
export class DiskRoomWatch {
  private low = false;

  constructor(private readonly dir: string) {}

  look(freeBytes: number): DiskRoomChange | undefined {
    if (!this.low && freeBytes < LOW_ROOM_BYTES) {
      this.low = true;
      return {
        kind: 'store-disk-low',
        text: `${mb(freeBytes)} free on the file system of ${this.dir}, where the state database is: its writes will fail soon (bans are still enforced, but their record, history and audit would wait in memory). Free some room there, or move store.path`,
      };
    }
    if (this.low && freeBytes >= ROOMY_BYTES) {
      this.low = false;
      return { kind: 'store-disk-restored', text: `${mb(freeBytes)} free again on the file system of ${this.dir}, where the state database is` };
    }
    return undefined;
  }
}
