/**
 * A store with some methods replaced, for tests that watch or change a
 * store's calls (not exported: docs/packaging.md).
 */
import type { Store } from "@weft/core/store";

/** `store` with the methods of `over` in place of its own; its other members are its own, bound to it. */
export const wrapStore = <S extends Store>(store: S, over: Partial<S>): S =>
  new Proxy(store, {
    get(target, prop) {
      const own = (over as Record<PropertyKey, unknown>)[prop];
      if (own !== undefined) return own;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
