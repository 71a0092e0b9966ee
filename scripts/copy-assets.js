// tsc compiles TypeScript only: the Lua scripts are copied next to the compiled store.
import { cpSync } from 'node:fs';

cpSync(new URL('../shared/store/lua', import.meta.url), new URL('../dist/shared/store/lua', import.meta.url), { recursive: true });
