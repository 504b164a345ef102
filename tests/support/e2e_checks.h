// Shared doctest assertions for the e2e suites: start a proxy or fail with its
// stderr, check the shape of proxy-generated error responses, fetch access-log
// lines with a deadline. Call only from a doctest test body (they REQUIRE).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "tests/support/fake_upstream.h"
#include "tests/support/json_line.h"
#include "tests/support/proxy_config.h"
#include "tests/support/proxy_process.h"
#include "tests/support/raw_client.h"

namespace swytest {

// Starts `proxy` on `cfg`; REQUIREs the ready line (5 s) and a bound "public" port.
void startOrFail(ProxyProcess& proxy, const ProxyConfig& cfg);

// A proxy-generated error: `status`, "text/plain; charset=utf-8", a matching
// Content-Length, a short body ending in "\n", and (if `closes`) "Connection:
// close" followed by the proxy closing the connection.
void checkErrorResponse(RawClient& client, const Response& r, int status, bool closes);

// Waits for access-log line `index` (0-based) and returns it parsed; fails the
// test if it does not arrive or is not JSON.
JsonLine logLineAt(ProxyProcess& proxy, size_t index, milliseconds timeout = milliseconds(3000));

// Peak resident set (VmHWM) of a process in KiB, or -1.
long peakRssKiB(pid_t pid);

std::string hex64(uint64_t v);

// The admin port, from "switchyard: admin listening address=127.0.0.1:PORT" (0: none).
uint16_t adminPort(const ProxyProcess& proxy);

} // namespace swytest
