// Light / dark / system theme: prefers-color-scheme by default, a toggle that is remembered.
import { t } from "./i18n.js";

const KEY = "piloto.theme";
const ORDER = ["system", "light", "dark"];
let mode = "system";

export function initTheme() {
  try { mode = localStorage.getItem(KEY) || "system"; } catch { mode = "system"; }
  if (!ORDER.includes(mode)) mode = "system";
  apply();
}

function apply() {
  const root = document.documentElement;
  if (mode === "system") delete root.dataset.theme;
  else root.dataset.theme = mode;
}

export function cycleTheme() {
  mode = ORDER[(ORDER.indexOf(mode) + 1) % ORDER.length];
  try { localStorage.setItem(KEY, mode); } catch { /* ignore */ }
  apply();
}

export function themeLabel() {
  return t(`theme.${mode}`);
}

export function themeIcon() {
  return mode === "light" ? "sun" : mode === "dark" ? "moon" : "monitor";
}
