// Test PKI generated at test time with the OpenSSL API (no committed keys):
// CAs, server and client certificates with SANs, EKUs and validity periods,
// written as PEM files into a private temporary directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace tlstest {

struct CertSpec {
  std::string cn;
  std::vector<std::string> dns; // subjectAltName DNS entries; empty = no SAN
  std::string eku;              // "serverAuth", "clientAuth", "" = no EKU extension
  bool ca = false;
  bool rsa = false;          // RSA 2048 instead of EC P-256
  long valid_from_days = -1; // relative to now
  long valid_until_days = 30;
};

// A certificate with its key, as objects and as files.
struct Issued {
  std::shared_ptr<X509> cert;
  std::shared_ptr<EVP_PKEY> key;
  std::string cert_path; // leaf followed by the issuing CA (a full chain)
  std::string key_path;
};

// Owns a mkdtemp directory, removed on destruction.
class Pki {
public:
  Pki();
  ~Pki();
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Self-signed CA (its PEM at <name>.pem).
  Issued makeCa(const std::string& name);
  // Leaf signed by `ca`, files <name>.pem and <name>.key.
  Issued issue(const Issued& ca, const CertSpec& spec, const std::string& name);
  // Writes `key` PKCS#8-encrypted with a passphrase to <name>.
  std::string writeEncryptedKey(const Issued& cert, const std::string& name);

private:
  std::string dir_;
};

} // namespace tlstest
