// GET /api/explain (explain.cc): the route a described request would take and
// why, without sending it anywhere.
#pragma once

#include <cstdint>
#include <string_view>

#include "proxy/admin/api.h"
#include "proxy/config/snapshot.h"
#include "proxy/health/health_board.h"

namespace proxy::admin {

// `query`: method=GET&path=/x&host=h&header=NAME:VALUE&cookie=NAME:VALUE&
// query=NAME:VALUE&client=IP (header, cookie and query repeat).
Response explain(const config::Snapshot& snapshot, const HealthBoard& health, uint64_t now_ms,
                 std::string_view query);

} // namespace proxy::admin
