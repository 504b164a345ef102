#include "tests/unit/tls/test_pki.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tlstest {
namespace {

std::shared_ptr<EVP_PKEY> makeKey(bool rsa) {
  EVP_PKEY* key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  if (key == nullptr) throw std::runtime_error("key generation failed");
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

void addExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1)
    throw std::runtime_error("cannot add extension " + value);
  X509_EXTENSION_free(ext);
}

std::shared_ptr<X509> makeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer,
                               EVP_PKEY* issuer_key) {
  std::shared_ptr<X509> cert(X509_new(), X509_free);
  X509* x = cert.get();
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
  X509_set_version(x, 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.valid_from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.valid_until_days * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Switchyard Test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  addExt(x, &ctx, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  addExt(x, &ctx, NID_key_usage,
         spec.ca ? "critical,keyCertSign,cRLSign"
                 : (spec.rsa ? "critical,digitalSignature,keyEncipherment"
                             : "critical,digitalSignature"));
  if (!spec.eku.empty()) addExt(x, &ctx, NID_ext_key_usage, spec.eku);
  if (!spec.dns.empty()) {
    std::string san;
    for (const std::string& d : spec.dns)
      san += (san.empty() ? "DNS:" : ",DNS:") + d;
    addExt(x, &ctx, NID_subject_alt_name, san);
  }
  if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) == 0)
    throw std::runtime_error("signing failed");
  return cert;
}

void writePem(const std::string& path, const std::vector<X509*>& certs, EVP_PKEY* key,
              const char* pass) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  bool ok = true;
  for (X509* c : certs)
    ok = ok && PEM_write_X509(f, c) == 1;
  if (key != nullptr && pass != nullptr)
    ok =
        ok && PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), pass,
                                        static_cast<int>(std::strlen(pass)), nullptr, nullptr) == 1;
  else if (key != nullptr)
    ok = ok && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  if (!ok) throw std::runtime_error("cannot write PEM " + path);
}

} // namespace

Pki::Pki() {
  char tmpl[] = "/tmp/swy-tls-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

Pki::~Pki() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

Issued Pki::makeCa(const std::string& name) {
  Issued ca;
  ca.key = makeKey(false);
  CertSpec spec;
  spec.cn = name;
  spec.ca = true;
  spec.valid_until_days = 365;
  ca.cert = makeCert(spec, ca.key.get(), nullptr, nullptr);
  ca.cert_path = path(name + ".pem");
  ca.key_path = path(name + ".key");
  writePem(ca.cert_path, {ca.cert.get()}, nullptr, nullptr);
  writePem(ca.key_path, {}, ca.key.get(), nullptr);
  return ca;
}

Issued Pki::issue(const Issued& ca, const CertSpec& spec, const std::string& name) {
  Issued leaf;
  leaf.key = makeKey(spec.rsa);
  leaf.cert = makeCert(spec, leaf.key.get(), ca.cert.get(), ca.key.get());
  leaf.cert_path = path(name + ".pem");
  leaf.key_path = path(name + ".key");
  writePem(leaf.cert_path, {leaf.cert.get(), ca.cert.get()}, nullptr, nullptr);
  writePem(leaf.key_path, {}, leaf.key.get(), nullptr);
  return leaf;
}

std::string Pki::writeEncryptedKey(const Issued& cert, const std::string& name) {
  std::string p = path(name);
  writePem(p, {}, cert.key.get(), "correct horse");
  return p;
}

} // namespace tlstest
