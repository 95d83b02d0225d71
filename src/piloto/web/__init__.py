"""The browser UI: static files served by Piloto itself (no CDN)."""
