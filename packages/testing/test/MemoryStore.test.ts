import { storeConformance } from "../src/index.ts";
import { MemoryStore } from "../src/MemoryStore.ts";

storeConformance("memory", async () => new MemoryStore());
