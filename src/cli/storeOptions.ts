// What the commands that read a run store accept, apart from the store's code: main.ts defines
// their options without loading it.
import { join } from "node:path";
import { STORE_URL_VARIABLE } from "../store/storeUrl.ts";

/** The store the `runs`, `export` and `ui` commands read when neither --store nor GRADSCOPE_STORE_URL names one. */
export const defaultStorePath = join("runs", "gradscope.db");

/** The store a reading command names: `--store`, else GRADSCOPE_STORE_URL, else runs/gradscope.db. */
export const readStoreLocation = (flag: string | undefined) => flag || process.env[STORE_URL_VARIABLE] || defaultStorePath;

/** The `runs` actions. */
export const runsActions = ["list", "show", "delete"];

/** The `export --format` choices. */
export const exportFormats = ["jsonl", "csv", "tfevents"];
