export { buildData, buildTraining, type RunData, type TrainingSetup } from "./build.ts";
export { ConfigError, type LoadedConfig, loadConfig } from "./load.ts";
export { type Config, configJsonSchema, configSchema } from "./schema.ts";
