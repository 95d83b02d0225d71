// The entry point. The shell is split by concern: session (boot, login, language), routing
// (#/p/ID/c/ID), sidebar, topbar, projects (create/rename/delete) over one `state` (state.js).
import { boot } from "./session.js";

boot();
