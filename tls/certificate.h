// Loading and checking one certificate entry (leaf + chain + key) for a
// server context. Reports every problem with the file it concerns.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tls/server_context.h"

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace tls {

struct X509Free {
  void operator()(X509* x) const;
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const;
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct LoadedCertificate {
  CertificateFiles files;
  X509Ptr leaf;
  std::vector<X509Ptr> chain;
  PkeyPtr key;
  std::vector<std::string> names; // lower-case DNS names from SAN (CN when no SAN)
  int key_type = 0;               // EVP_PKEY_RSA, EVP_PKEY_EC, ...
};

// Reads and checks one entry. Returns false (with problems appended) when it
// cannot be used: unreadable, not PEM, encrypted key, key mismatch, expired or
// not yet valid, no DNS name, weak RSA key.
bool loadCertificate(const CertificateFiles& files, LoadedCertificate* out,
                     std::vector<Problem>* problems);

// The DNS names a certificate is valid for (lower case): SAN dNSName entries,
// or the subject CN when the certificate has no SAN (RFC 6125 s6.4.4).
std::vector<std::string> certificateNames(X509* cert);

// Reads a whole file; on failure appends Problem{path, strerror(errno)}.
bool readFile(const std::string& path, std::string* out, std::vector<Problem>* problems);

} // namespace tls
