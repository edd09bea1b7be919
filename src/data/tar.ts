import { readFileSync } from "node:fs";
import { gunzipAtMost, isGzip } from "./gzip.ts";

const BLOCK = 512;

function text(header: Uint8Array, start: number, length: number): string {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

// A numeric header field: octal digits, or GNU's base-256 (high bit set) for sizes of 8 GiB and more.
function number(header: Uint8Array, start: number, length: number): number {
  if (header[start] & 0x80) {
    let value = header[start] & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + header[i];
    return value;
  }
  const digits = text(header, start, length).trim();
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

// The checksum is the byte sum of the header with its own 8-byte field counted as spaces.
function checksumMatches(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum === number(header, 148, 8);
}

// The path a pax extended header ("<length> path=<value>\n" records) sets for the next entry.
function paxPath(records: Uint8Array): string | undefined {
  for (const line of new TextDecoder().decode(records).split("\n")) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/** The most a gzipped archive may inflate to, and why (the error that refuses it says so). */
export interface TarLimit {
  /** The most bytes the archive may inflate to. */
  bytes: number;
  /** e.g. "CIFAR-10's binary release holds 184380000 bytes of records and a few small files". */
  why: string;
}

/**
 * The regular files of a tar archive (ustar, GNU and pax headers; gunzipped first when it starts
 * with the gzip magic), by their path inside it. A gzipped archive is inflated to no more than
 * `limit.bytes`: a small file cannot make the process allocate gigabytes before it is refused.
 * Errors name the archive and what is wrong.
 */
export function readTar(path: string, limit: TarLimit): Map<string, Uint8Array> {
  let bytes: Uint8Array = readFileSync(path);
  if (isGzip(bytes)) bytes = gunzipAtMost(bytes, limit.bytes, path, limit.why);
  const files = new Map<string, Uint8Array>();
  let longName: string | undefined;
  for (let offset = 0; offset + BLOCK <= bytes.length; ) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    if (!checksumMatches(header)) throw new Error(`gradscope: ${path} is not a tar archive, or is damaged: bad header checksum at byte ${offset}`);
    const size = number(header, 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const start = offset + BLOCK;
    if (start + size > bytes.length)
      throw new Error(`gradscope: ${path} is truncated: ${text(header, 0, 100)} needs ${size} bytes at byte ${start}, the archive has ${bytes.length - start}`);
    const data = bytes.subarray(start, start + size);
    const prefix = text(header, 257, 5) === "ustar" ? text(header, 345, 155) : "";
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = undefined;
    if (type === "L") longName = text(data, 0, size);
    else if (type === "x") longName = paxPath(data);
    else if (type === "0" || type === "7") files.set(name.replace(/^\.\//, ""), data);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
