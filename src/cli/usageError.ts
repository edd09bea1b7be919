/**
 * A mistake in the command line that the user must fix: an unknown or ambiguous run id, a
 * missing store or run directory, an output folder that cannot be made. The CLI prints its
 * message without a stack trace and exits with 2, as for a config error.
 */
export class UsageError extends Error {
  override name = "UsageError";
}
