/**
 * The telnet layer of a client's byte stream (RFC 854/855): takes IAC commands,
 * option negotiation and subnegotiation out of the data, and refuses every option
 * request, so a client stays in its default line-by-line mode with local echo. Runs in
 * the child, one decoder per connection, one byte at a time; allocates nothing.
 */

export const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const EL = 248; // erase line
const EC = 247; // erase character
const AO = 245; // abort output
const IP = 244; // interrupt process
const BRK = 243; // break
const SE = 240;
const ABORT = 238; // abort process (RFC 1184)
const SUSP = 237; // suspend process (RFC 1184)
const EOF = 236; // end of file (RFC 1184)
/** ECHO (RFC 857): the parent offers it itself around a password prompt (src/chat/accounts.ts). */
const TELOPT_ECHO = 1;
/** TIMING-MARK (RFC 860): a request to be answered every time, not an option to switch on. */
const TELOPT_TM = 6;

/** What the decoder hands on besides plain data bytes. */
export const TelnetEdit = {
  /** IAC EC: erase the last character. */
  EraseChar: 1,
  /** IAC EL: erase the line typed so far. */
  EraseLine: 2,
  /** IAC IP, IAC AO, IAC ABORT (Ctrl-C and the like): throw the half-typed line away. */
  DiscardLine: 3,
} as const;
export type TelnetEdit = (typeof TelnetEdit)[keyof typeof TelnetEdit];

export interface TelnetSink {
  /** A data byte of the chat text (IAC IAC arrives here as one 255). */
  data(byte: number): void;
  /**
   * Data bytes `bytes[from, to)`, all printable ASCII (0x20-0x7E): what data() would get
   * one by one, in one call. Most of every line comes this way.
   */
  text(bytes: Buffer, from: number, to: number): void;
  /** The client asked to erase (IAC EC / IAC EL) or interrupt (IAC IP / AO / ABORT). */
  edit(what: TelnetEdit): void;
  /** Three bytes to send back to the client: an answer to its negotiation; copy them before returning. */
  reply(bytes: Buffer): void;
}

/**
 * The data byte a telnet client turned into the command `command`, or 0.
 *
 * GNU inetutils telnet (telnet/telnet.c: telsnd(); telnet/sys_bsd.c:
 * TerminalSpecialChars(); the same code as every BSD-derived telnet) compares each byte
 * typed with the terminal's special characters after `strip()`, which clears the eighth
 * bit unless the client sends in BINARY mode (which we refuse, like every option). So
 * a UTF-8 continuation byte 0x80 + c, where c is one of those characters, is not sent:
 * the client sends c's command instead, and after IP, BRK, SUSP and AO also
 * IAC DO TIMING-MARK (autoflush, on under Linux). With the default termios characters
 * and the client in its default mode ("kludge" line mode: no LINEMODE, no SGA):
 *
 *   byte  stripped       the client sends              in, for example
 *   0x83  ^C  VINTR      IAC IP   (244), IAC DO TM     у  D1 83
 *   0x9C  ^\  VQUIT      IAC BRK  (243), IAC DO TM     本 E6 9C AC
 *                        (IAC ABORT (238) in real LINEMODE)
 *   0x9A  ^Z  VSUSP      IAC SUSP (237), IAC DO TM     К  D0 9A
 *   0x8F  ^O  VDISCARD   IAC AO   (245), IAC DO TM     я  D1 8F, 🏽 F0 9F 8F BD
 *   0x84  ^D  VEOF       IAC EOF  (236) in LINEMODE only; else the byte itself
 *
 * Two more bytes the client swallows itself, with nothing sent in their place, so
 * nothing here can put them back: 0x85 (^E, its echo-toggle key: х D1 85) and 0x9D
 * (^], its escape key: the rest of the line goes to its telnet> prompt; Н D0 9D).
 * Checked against inetutils-telnet 2.4 (Debian 12) by test/telnet-utf8.test.ts, which
 * records what it sends for such text.
 *
 * Inside a UTF-8 character (a continuation byte is due), such a command can only be this
 * mangling, so the decoder puts the byte back; anywhere else the command keeps its meaning.
 */
export function manglingByte(command: number): number {
  switch (command) {
    case IP:
      return 0x83;
    case BRK:
    case ABORT:
      return 0x9c;
    case SUSP:
      return 0x9a;
    case AO:
      return 0x8f;
    case EOF:
      return 0x84;
    default:
      return 0;
  }
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
  /** Continuation bytes still due for the UTF-8 character in the data so far. */
  private continuations = 0;
  /** Requests answered on this connection: WILL x at [x], DO x at [256 + x]. */
  private readonly answered = new Uint8Array(512);
  /** A DO TIMING-MARK was answered during the current feed(). */
  private markAnswered = false;
  /** One prepared three-byte answer; `reply()` consumers copy it before the next. */
  private readonly answer = Buffer.from([IAC, 0, 0]);

  constructor(private readonly sink: TelnetSink) {}

  /** One read's bytes. */
  feed(chunk: Buffer, length: number): void {
    this.markAnswered = false;
    let i = 0;
    while (i < length) {
      if (this.state === State.Data) {
        // A run of printable ASCII, data whatever comes around it, goes on in one piece.
        let end = i;
        for (let b = chunk[end] ?? 0; end < length && b >= 0x20 && b < 0x7f; b = chunk[end] ?? 0) end++;
        if (end > i) {
          this.continuations = 0;
          this.sink.text(chunk, i, end);
          i = end;
          continue;
        }
      }
      this.byte(chunk[i] ?? 0);
      i++;
    }
  }

  private byte(b: number): void {
    switch (this.state) {
      case State.Data:
        if (b === IAC) this.state = State.Command;
        else this.data(b);
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

  /** A data byte, on to the sink; notes where UTF-8 characters begin and end. */
  private data(b: number): void {
    if ((b & 0xc0) === 0x80) {
      if (this.continuations > 0) this.continuations--;
    } else {
      this.continuations = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
    }
    this.sink.data(b);
  }

  private command(b: number): void {
    this.state = State.Data;
    if (b === IAC) {
      this.data(IAC); // an escaped 255 is data
      return;
    }
    if (b === WILL || b === WONT || b === DO || b === DONT) {
      this.verb = b;
      this.state = State.Option;
      return;
    }
    if (b === SB) {
      this.state = State.Sub;
      return;
    }
    if (this.continuations > 0) {
      const restored = manglingByte(b);
      if (restored !== 0) {
        this.data(restored); // the client's telnet ate a byte of this character: put it back
        return;
      }
    }
    const edit = b === EC ? TelnetEdit.EraseChar : b === EL ? TelnetEdit.EraseLine : b === IP || b === AO || b === ABORT ? TelnetEdit.DiscardLine : 0;
    // NOP, AYT, BRK, SUSP, EOF, GA, DM...: nothing to do in a line-based chat.
    if (edit === 0) return;
    this.continuations = 0; // an edit drops a half-received character, as the line editor does
    this.sink.edit(edit);
  }

  /**
   * We enable no option on either side. A request to enable one gets a refusal, once
   * per connection for each (verb, option): a second refusal would tell the client
   * nothing new, and never answering the same request twice means no client, however
   * it repeats itself, gets a stream of answers out of us (RFC 1143's loop prevention,
   * taken strictly). A WONT/DONT matches our state already and gets no answer (RFC 854).
   *
   * DO TIMING-MARK is the exception (RFC 860): it asks "have you got this far?", each
   * time, and a telnet that sent it (inetutils does after every IP, BRK, AO or SUSP)
   * drops all it receives until the answer comes. So it is answered every time, at most
   * once per read: one answer tells the client everything sent before it arrived.
   *
   * DO ECHO is never answered: the parent sends IAC WILL ECHO while a password is typed
   * (so the client stops echoing it) and IAC WONT ECHO after, straight to the socket;
   * the client's DO ECHO is its agreement, and a WONT ECHO from here would turn its echo
   * back on in the middle of the password. Unasked, a DO ECHO left unanswered leaves the
   * client echoing, as it was.
   */
  private negotiate(verb: number, option: number): void {
    if (verb !== WILL && verb !== DO) return;
    if (verb === DO && option === TELOPT_ECHO) return;
    if (verb === DO && option === TELOPT_TM) {
      if (this.markAnswered) return;
      this.markAnswered = true;
    } else {
      const slot = verb === DO ? 256 + option : option;
      if (this.answered[slot] === 1) return;
      this.answered[slot] = 1;
    }
    this.answer[1] = verb === WILL ? DONT : WONT;
    this.answer[2] = option;
    this.sink.reply(this.answer);
  }
}
