// What the pages hang on window for scripts, tests and benchmarks.
interface Window {
  gridcast?: { model: unknown; socket: unknown; grid: unknown };
  __gridcastNotifications?: Set<unknown>;
}
