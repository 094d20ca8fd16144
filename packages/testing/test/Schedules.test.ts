import { scheduleConformance } from "../src/Conformance.ts";
import { MemoryStore } from "../src/MemoryStore.ts";

scheduleConformance("memory", async () => new MemoryStore());
