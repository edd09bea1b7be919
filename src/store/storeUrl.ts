/** The environment variable that names a shared run store (a postgres:// URL) for every command. */
export const STORE_URL_VARIABLE = "GRADSCOPE_STORE_URL";

/** Whether a store location is a PostgreSQL URL (else it is a SQLite file's path). */
export const isPostgresUrl = (location: string) => /^postgres(ql)?:\/\//i.test(location);
