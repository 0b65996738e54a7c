/** Types of who.js, the page's list of who is here (the page itself is plain JavaScript). */
export declare class WhoList {
  constructor(changed?: () => void);
  people: Set<string>;
  me: string;
  room: string;
  unnamed: number;
  reset(): void;
  feed(text: string): void;
  line(line: string): boolean;
  list(): { names: string[]; more: number; me: string; room: string };
}
