/** A URL with its password replaced by `***`, for messages (an unparsable one is named by its scheme only). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return `${url.split("://")[0]}://… (not a valid URL)`;
  }
}
