import { storeConformance } from "../src/Conformance.ts";
import { MemoryStore } from "../src/MemoryStore.ts";

storeConformance("memory", async () => new MemoryStore(), {
  tamper: async (store, runId, nodeId) => (store as MemoryStore).corruptNodeRecord(runId, nodeId),
});
