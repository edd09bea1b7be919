import { appendFileSync } from "node:fs";

/**
 * One output stream of a trial host's process (its stdout or its stderr) as its worker reads it,
 * cut into the logs of the trials the host trains. Once a trial has ended and the host has let its
 * deferred output out, the host writes its end marker on the stream (trialHostEntry): the bytes
 * before the marker are that trial's, the bytes after it the next one's. The stream, not the
 * message that says the trial ended, says where a trial's output ends: the two travel apart, and
 * a worker that switched logs at the message put what the pipe still held (native output, or what
 * a trial wrote in its last turns of the event loop) in the next trial's log.
 */
export class TrialOutput {
  /** How many end markers the stream has had: the trials whose output on it is all in their logs. */
  ended = 0;
  // The stream's last bytes when they may be the start of a marker that the next chunk completes.
  private held = Buffer.alloc(0);

  /**
   * `logs` are the log files of the trials sent to the host, in the order they were sent (the
   * worker adds to it); `onEnd` hears of each marker.
   */
  constructor(
    private readonly marker: Buffer,
    private readonly logs: readonly string[],
    private readonly onEnd: () => void,
  ) {}

  /** Appends a chunk of the stream to the logs it belongs to. */
  write(chunk: Buffer): void {
    let data = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    for (let at = data.indexOf(this.marker); at >= 0; at = data.indexOf(this.marker)) {
      this.append(data.subarray(0, at));
      data = data.subarray(at + this.marker.length);
      this.ended++;
      this.onEnd();
    }
    const held = this.markerStart(data);
    this.append(data.subarray(0, data.length - held));
    this.held = Buffer.from(data.subarray(data.length - held));
  }

  /** Appends what the stream held back when it closes: no marker can complete it. */
  end(): void {
    this.append(this.held);
    this.held = Buffer.alloc(0);
  }

  // The length of the longest end of `data` that starts the marker.
  private markerStart(data: Buffer): number {
    for (let length = Math.min(this.marker.length - 1, data.length); length > 0; length--) {
      if (data.subarray(data.length - length).equals(this.marker.subarray(0, length))) return length;
    }
    return 0;
  }

  // Output after a trial's marker and before the host gets its next trial (what that trial left
  // running wrote still later) stays in the ended trial's log.
  private append(bytes: Buffer): void {
    const log = this.logs[Math.min(this.ended, this.logs.length - 1)];
    if (bytes.length === 0 || log === undefined) return;
    try {
      appendFileSync(log, bytes);
    } catch {
      // A log that became unwritable since its trial started (its folder removed, a full disk)
      // loses these lines; a throw here would end the worker and every trial it serves.
    }
  }
}
