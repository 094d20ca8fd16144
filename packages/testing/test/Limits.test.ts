import { limitConformance } from "../src/Conformance.ts";
import { MemoryStore } from "../src/MemoryStore.ts";

limitConformance("memory", async () => new MemoryStore());
