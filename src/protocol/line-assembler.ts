/**
 * Turns a client's byte stream, read in chunks that end anywhere, into complete
 * lines written straight into a caller's buffer (the child's record buffer), so a
 * message is one line however the reads fall and nothing is allocated per line.
 */

const LF = 0x0a;
const CR = 0x0d;

/**
 * Receives finished lines: the line's length in the target buffer, and `cut` when it
 * hit the limit. An object with a method rather than a callback, so the child's hot
 * path calls one method of one class and never a closure made per connection.
 */
export interface LineSink {
  line(length: number, cut: boolean): void;
}

export class LineAssembler {
  private length = 0;
  /** After a cut: the rest of that line is dropped until its line end. */
  private discarding = false;

  /**
   * @param target where lines are assembled, from `start`
   * @param start offset of the first line byte in `target`
   * @param maxBytes the longest line; a longer one is delivered cut at this length, once
   */
  constructor(
    private readonly target: Buffer,
    private readonly start: number,
    private readonly maxBytes: number,
  ) {
    if (start + maxBytes > target.length) throw new RangeError('line limit does not fit the target buffer');
  }

  /** Feeds `chunk[0, chunkLength)`; calls `sink.line()` for every line it completes. */
  feed(chunk: Buffer, chunkLength: number, sink: LineSink): void {
    let pos = 0;
    while (pos < chunkLength) {
      let lineEnd = chunk.indexOf(LF, pos);
      if (lineEnd >= chunkLength) lineEnd = -1;
      const end = lineEnd === -1 ? chunkLength : lineEnd;
      if (!this.discarding) this.append(chunk, pos, end, sink);
      if (lineEnd === -1) return;
      if (!this.discarding) this.finishLine(sink);
      this.discarding = false;
      pos = lineEnd + 1;
    }
  }

  /** At end of stream: delivers an unfinished last line, if any (`printf hi | nc` sends no line end). */
  end(sink: LineSink): void {
    if (this.length > 0 && !this.discarding) this.finishLine(sink);
  }

  private append(chunk: Buffer, from: number, to: number, sink: LineSink): void {
    const room = this.maxBytes - this.length;
    const take = Math.min(room, to - from);
    // A plain loop: Buffer#copy makes a view object per call, and the child must not allocate.
    const at = this.start + this.length;
    for (let i = 0; i < take; i++) this.target[at + i] = chunk[from + i] ?? 0;
    this.length += take;
    if (take < to - from) {
      // Over the limit: deliver what fits now, once, and drop the rest of this line.
      // (A CR that would have ended the line is simply part of the cut text.)
      sink.line(this.length, true);
      this.length = 0;
      this.discarding = true;
    }
  }

  private finishLine(sink: LineSink): void {
    let length = this.length;
    if (length > 0 && this.target[this.start + length - 1] === CR) length--; // CR LF
    this.length = 0;
    sink.line(length, false);
  }
}
