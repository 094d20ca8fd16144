import { storeConformance } from "../src/Conformance.ts";
import { MemoryStore } from "../src/MemoryStore.ts";

storeConformance("memory", async () => new MemoryStore());
