/** Waits `ms` milliseconds (the default where a dependency lets a test pass its own). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
