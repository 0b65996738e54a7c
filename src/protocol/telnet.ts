/**
 * The telnet layer of a client's byte stream (RFC 854/855): takes IAC commands,
 * option negotiation and subnegotiation out of the data, and answers every option
 * request with a refusal, so a client stays in its default line-by-line mode with
 * local echo. Runs in the child, one decoder per connection, one byte at a time.
 */

export const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const EC = 247; // erase character
const EL = 248; // erase line
const SE = 240;

/** What the decoder hands on besides plain data bytes. */
export const TelnetEdit = { EraseChar: 1, EraseLine: 2 } as const;
export type TelnetEdit = (typeof TelnetEdit)[keyof typeof TelnetEdit];

export interface TelnetSink {
  /** A data byte of the chat text (IAC IAC arrives here as one 255). */
  data(byte: number): void;
  /** The client asked to erase (IAC EC / IAC EL). */
  edit(what: TelnetEdit): void;
  /** Bytes to send back to the client: our answers to its negotiation. */
  reply(bytes: Buffer): void;
}

const enum State {
  Data,
  Command,
  Option,
  Sub,
  SubCommand,
}

export class TelnetDecoder {
  private state = State.Data;
  private verb = 0;
  /** One prepared three-byte answer; `reply()` consumers copy it before the next. */
  private readonly answer = Buffer.from([IAC, 0, 0]);

  constructor(private readonly sink: TelnetSink) {}

  feed(chunk: Buffer, length: number): void {
    for (let i = 0; i < length; i++) this.byte(chunk[i] ?? 0);
  }

  private byte(b: number): void {
    switch (this.state) {
      case State.Data:
        if (b === IAC) this.state = State.Command;
        else this.sink.data(b);
        return;
      case State.Command:
        this.command(b);
        return;
      case State.Option:
        this.state = State.Data;
        this.negotiate(this.verb, b);
        return;
      case State.Sub:
        // Subnegotiation payload (terminal type, window size...): not chat text; skipped
        // without buffering, so a huge one costs nothing.
        if (b === IAC) this.state = State.SubCommand;
        return;
      case State.SubCommand:
        this.state = b === SE ? State.Data : State.Sub;
        return;
    }
  }

  private command(b: number): void {
    this.state = State.Data;
    if (b === IAC) this.sink.data(IAC); // an escaped 255 is data
    else if (b === WILL || b === WONT || b === DO || b === DONT) {
      this.verb = b;
      this.state = State.Option;
    } else if (b === SB) this.state = State.Sub;
    else if (b === EC) this.sink.edit(TelnetEdit.EraseChar);
    else if (b === EL) this.sink.edit(TelnetEdit.EraseLine);
    // NOP, AYT, IP, AO, BRK, GA, DM...: nothing to do in a line-based chat.
  }

  /**
   * We enable no option on either side. Requests to enable get a refusal; a
   * WONT/DONT matches our state already and, per RFC 854, gets no answer (so two
   * refusing ends never loop).
   */
  private negotiate(verb: number, option: number): void {
    if (verb !== WILL && verb !== DO) return;
    this.answer[1] = verb === WILL ? DONT : WONT;
    this.answer[2] = option;
    this.sink.reply(this.answer);
  }
}
