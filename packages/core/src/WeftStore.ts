/**
 * The store as an Effect service: the Effect-native API's entry point
 * (docs/effect.md). A layer provides `WeftStore` (`RedisStore.layer(url)`
 * in @weft/redis, `MemoryStore.layer` in @weft/testing, or
 * `WeftStore.fromStore(store)` around a store you opened); `WeftClient` and
 * `WeftWorker` are built on it. After Effect's `PersistedQueue` store
 * layers.
 */
import { Context, Effect, Layer, type Scope } from "effect";
import type { Store } from "./Store.ts";

/**
 * The Effect service holding a {@link Store}: the same object the Promise
 * API takes (`createClient(store)`, `startWorker({ store })`), so a
 * program may use both APIs on one connection.
 *
 * @example
 * const program = Effect.gen(function* () {
 *   const store = yield* WeftStore
 *   return store.name
 * })
 */
export class WeftStore extends Context.Service<WeftStore, Store>()("@weft/core/WeftStore") {
  /**
   * A layer providing `store` as it is: the caller opened it and closes it
   * (the layer does not).
   */
  static readonly fromStore = (store: Store): Layer.Layer<WeftStore> =>
    Layer.succeed(WeftStore, store);

  /**
   * A layer that opens a store with `open` when it is built and closes it
   * (`store.close()`) when its scope closes; `open`'s typed errors are the
   * layer's. What `RedisStore.layer` and `MemoryStore.layer` are made of.
   */
  static readonly scoped = <E, R>(
    open: Effect.Effect<Store, E, R>,
  ): Layer.Layer<WeftStore, E, Exclude<R, Scope.Scope>> =>
    Layer.effect(
      WeftStore,
      Effect.acquireRelease(open, (store) => Effect.promise(() => store.close())),
    );
}
