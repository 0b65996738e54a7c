/**
 * The bans in force, kept in memory so the parent can refuse a banned address at
 * accept() without a query: address and CIDR blocks, and names. An expired ban is
 * simply no longer found (its row stays until /unban or the next start). Pure.
 */
import type { Ban } from '../store/store.js';
import { inBlock, parseBlock, type Block } from './cidr.js';

interface Entry {
  ban: Ban;
  block: Block | null;
}

export class BanList {
  private readonly byTarget = new Map<string, Entry>();

  load(bans: readonly Ban[]): void {
    for (const ban of bans) this.add(ban);
  }

  add(ban: Ban): void {
    this.byTarget.set(ban.target, { ban, block: ban.kind === 'address' ? parseBlock(ban.target) : null });
  }

  clear(): void {
    this.byTarget.clear();
  }

  remove(target: string): boolean {
    return this.byTarget.delete(target);
  }

  /** The ban in force at `now` on the client address `address`, if any. */
  ofAddress(address: string, now: number): Ban | null {
    for (const entry of this.byTarget.values()) {
      if (entry.block === null || !this.inForce(entry, now)) continue;
      if (inBlock(entry.block, address)) return entry.ban;
    }
    return null;
  }

  /** The ban in force at `now` on the name `name` (any case), if any. */
  ofName(name: string, now: number): Ban | null {
    const entry = this.byTarget.get(name.toLowerCase());
    return entry !== undefined && entry.block === null && this.inForce(entry, now) ? entry.ban : null;
  }

  /** Every ban in force at `now`, oldest first; expired ones are dropped. */
  list(now: number): Ban[] {
    const bans: Ban[] = [];
    for (const [target, entry] of this.byTarget) {
      if (this.inForce(entry, now)) bans.push(entry.ban);
      else this.byTarget.delete(target);
    }
    return bans;
  }

  private inForce(entry: Entry, now: number): boolean {
    return entry.ban.until === null || entry.ban.until > now;
  }
}
