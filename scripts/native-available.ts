// Exits 0 when the native BLAS backend loads, else prints why and exits 1: `npm test` runs the
// suites on the native backend only where npm ci could build it.
import { nativeUnavailableReason } from "../src/engine/backend.ts";

const reason = nativeUnavailableReason();
if (reason) {
  console.log(`native backend suites skipped: ${reason}`);
  process.exit(1);
}
