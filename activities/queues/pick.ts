/** Only the named members of a factory's activities (factories that serve more than one queue). */
export function pick<T extends object, K extends keyof T>(all: T, names: readonly K[]): Pick<T, K> {
  return Object.fromEntries(names.map((n) => [n, all[n]])) as Pick<T, K>;
}
