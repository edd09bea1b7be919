export { type ServeDashboardOptions, serveDashboard } from "./serve.ts";
export type { Dashboard } from "./server.ts";
