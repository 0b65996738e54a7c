/**
 * What the chat keeps: its options, the people here and the rooms. Types only.
 */
import type { ClusterPort, Connection, RoomGroup } from '../contracts.js';
import type { ListBudget } from './budget.js';

export interface ChatOptions {
  /** Public lines a newcomer to a room sees (0: none). */
  historyLines: number;
  /** Prefix lines with [HH:MM]. */
  timestamps: boolean;
  /** Message of the day, shown after the welcome. */
  motd: readonly string[];
  /** The line limit, for the notice to a sender whose line was cut. */
  maxLineBytes: number;
  /** The clock (tests may set it). */
  now?: () => Date;
  /** The other servers, with --redis. */
  cluster?: ClusterPort;
}

export interface Member {
  readonly connection: Connection;
  nick: string;
  room: Room;
  /** What /who * and /rooms may still cost this person. */
  readonly budget: ListBudget;
}

export interface Room {
  readonly name: string;
  readonly members: Set<Member>;
  /** Its members' connections, to send a line to all at the cost of one; made on first use. */
  group: RoomGroup | null;
}
