// Shared by the TLS e2e suites: a test PKI (generated at test time) with one
// CA and two server names, and the listener block that serves both.
#pragma once

#include <string>

#include "tests/unit/tls/test_pki.h"

namespace swytest {

struct Tls {
  tlstest::Pki pki;
  tlstest::Issued ca = pki.makeCa("ca");
  tlstest::Issued a = pki.issue(ca, {"a", {"a.example.test"}, "serverAuth"}, "a");
  tlstest::Issued b = pki.issue(ca, {"b", {"b.example.test"}, "serverAuth"}, "b");

  // `extra` is appended inside the tls: mapping, e.g. ", hsts: {max_age: 60}".
  std::string listener(const std::string& extra = "") const {
    return "{name: public, address: 127.0.0.1:0, tls: {certificates: [{cert: " + a.cert_path +
           ", key: " + a.key_path + "}, {cert: " + b.cert_path + ", key: " + b.key_path + "}]" +
           extra + "}}";
  }
};

} // namespace swytest
