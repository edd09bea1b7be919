import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { TrialOutput } from "../src/sweep/trialOutput.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-trial-output-"));
const marker = Buffer.from("<end-3f9a>");

// A host's output stream read into the logs of trials `a`, `b` (and `c`), the logs' texts, and how many markers were heard.
function stream(name: string, trials = ["a", "b"]) {
  const logs = trials.map((trial) => join(folder, `${name}-${trial}.log`));
  let heard = 0;
  const output = new TrialOutput(marker, logs, () => heard++);
  const read = (log: number) => {
    try {
      return readFileSync(logs[log], "utf8");
    } catch {
      return "";
    }
  };
  return { output, read, heard: () => heard };
}

test("a host's output goes to each trial's log up to that trial's end marker, even with the marker cut between chunks", () => {
  const { output, read, heard } = stream("cut");
  output.write(Buffer.from("first trial's line\nnative, no newline<end"));
  assert.equal(read(0), "first trial's line\nnative, no newline", "the start of a marker is held back");
  assert.equal(output.ended, 0);
  output.write(Buffer.from("-3f"));
  output.write(Buffer.from("9a>second trial's line\n"));
  assert.equal(output.ended, 1);
  assert.equal(heard(), 1);
  assert.equal(read(0), "first trial's line\nnative, no newline");
  assert.equal(read(1), "second trial's line\n");
});

test("several end markers in one chunk each end a trial; output after the last trial's marker stays in that trial's log", () => {
  const { output, read, heard } = stream("several", ["a", "b", "c"]);
  output.write(Buffer.from(`one\n${marker}two\n${marker}${marker}late\n`));
  assert.equal(output.ended, 3);
  assert.equal(heard(), 3);
  assert.equal(read(0), "one\n");
  assert.equal(read(1), "two\n");
  assert.equal(read(2), "late\n");
});

test("output read after a trial's marker, before its worker sent the next trial, stays in the ended trial's log", () => {
  const logs = [join(folder, "between-a.log")];
  const output = new TrialOutput(marker, logs, () => {});
  output.write(Buffer.from(`a's line\n${marker}a timer of a's, late\n`));
  logs.push(join(folder, "between-b.log"));
  output.write(Buffer.from("b's line\n"));
  assert.equal(readFileSync(logs[0], "utf8"), "a's line\na timer of a's, late\n");
  assert.equal(readFileSync(logs[1], "utf8"), "b's line\n");
});

test("what looked like the start of a marker is written when the next chunk does not complete it, or when the stream closes", () => {
  const { output, read } = stream("held");
  output.write(Buffer.from("x <end-"));
  output.write(Buffer.from("3f-not-it\n<e"));
  assert.equal(read(0), "x <end-3f-not-it\n");
  output.end();
  assert.equal(read(0), "x <end-3f-not-it\n<e");
  assert.equal(output.ended, 0);
});
