/**
 * Imported by bin.ts before anything else loads: when the command line may be `podnet agent`
 * (the word "agent" is one of its arguments), the agent's heap sizing starts now, before
 * loading the program's modules grows the young generation (see agent-heap.ts). The program
 * confirms it once commander has found the command, and puts the defaults back otherwise.
 */
import { keepAgentHeapSmall } from "./agent-heap.js";

if (process.argv.slice(2).includes("agent")) keepAgentHeapSmall();
