import { constants as bufferConstants } from "node:buffer";
import { constants, gunzipSync } from "node:zlib";

/**
 * The most a deflate stream expands: 1032 output bytes per input byte (zlib's technical notes:
 * a 2-bit length/distance pair copies 258 bytes). A file whose header promises more than its
 * compressed bytes times this cannot hold it.
 */
export const maxDeflateRatio = 1032;

// The most a header read decompresses: far more than any header needs, far less than a bomb.
const HEAD_LIMIT = 1 << 20;

/** Whether `bytes` start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function isTooLarge(error: unknown): boolean {
  return (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
}

function invalidGzip(file: string, error: unknown): Error {
  return new Error(`gradscope: ${file} is not a valid gzip stream: ${(error as Error).message}`);
}

/**
 * The first `length` decompressed bytes of gzip `bytes` (fewer when the stream is shorter),
 * decompressing only a prefix of the stream, so that a header is read without inflating the
 * data behind it. `file` names the stream ("IDX file x.gz") in errors.
 */
export function gunzipHead(bytes: Uint8Array, length: number, file: string): Uint8Array {
  // Prefixes are inflated with a sync flush, which returns what a truncated stream holds so far.
  // They double until the output reaches `length`; one that inflates past HEAD_LIMIT is bisected
  // with the last one that fell short (one input byte adds at most 1032 output bytes).
  let short = 0;
  let tooLarge = Number.POSITIVE_INFINITY;
  let prefix = Math.min(bytes.length, 256);
  for (;;) {
    try {
      const head = gunzipSync(bytes.subarray(0, prefix), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: HEAD_LIMIT });
      if (head.length >= length || prefix === bytes.length) return head.subarray(0, length);
      short = prefix;
    } catch (error) {
      if (!isTooLarge(error)) throw invalidGzip(file, error);
      tooLarge = prefix;
    }
    prefix = tooLarge === Number.POSITIVE_INFINITY ? Math.min(bytes.length, prefix * 2) : Math.floor((short + tooLarge) / 2);
    if (prefix === short) throw new Error(`gradscope: ${file}: its first ${length} bytes could not be read from its gzip stream without inflating more than ${HEAD_LIMIT} bytes`);
  }
}

/**
 * Decompresses gzip `bytes` to at most `maxBytes` bytes. A stream that inflates to more is
 * refused once it passes the bound, before more is allocated, with an error naming `file` and
 * `why` the bound is what it is ("its header's shape [2, 28, 28] makes a file of 1584 bytes").
 */
export function gunzipAtMost(bytes: Uint8Array, maxBytes: number, file: string, why: string): Uint8Array {
  // zlib would refuse such a bound as an option out of range, which would not say why.
  if (maxBytes > bufferConstants.MAX_LENGTH) throw new Error(`gradscope: ${file} cannot be read: ${why}, more than one buffer holds (${bufferConstants.MAX_LENGTH} bytes)`);
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (error) {
    if (isTooLarge(error)) throw new Error(`gradscope: ${file} inflates to more than ${maxBytes} bytes, but ${why}; refusing it (a damaged file, or a gzip bomb)`);
    throw invalidGzip(file, error);
  }
}
