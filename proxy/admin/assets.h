#pragma once

// Files embedded into the binary at build time by embed_asset.py (see meson.build here).
// Each array holds the file's bytes followed by one '\0' that `_size` does not count.
// Immutable, so any thread may read them.

#include <cstddef>

namespace proxy::admin {

// stats_page.html: the live stats page served at `GET /` on the admin listener. One
// self-contained HTML document (inline CSS and JS, no external resource) that polls
// `GET /api/stats` and sends `PUT /api/pools/{pool}/servers/{server}`.
// Serve as `text/html; charset=utf-8`.
extern const char kStatsPage[];
extern const size_t kStatsPage_size;

} // namespace proxy::admin
