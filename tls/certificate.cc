#include "tls/certificate.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tls {

void X509Free::operator()(X509* x) const { X509_free(x); }
void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string timeText(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// Fails on purpose and records that a passphrase was asked for: encrypted
// keys are refused (a proxy must start unattended).
int refusePassword(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

bool loadChain(const std::string& path, LoadedCertificate* out, std::vector<Problem>* problems) {
  std::string pem;
  if (!readFile(path, &pem, problems)) return false;
  BioPtr bio = memBio(pem);
  out->leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!out->leaf) {
    ERR_clear_error();
    problems->push_back({path, "no PEM certificate found"});
    return false;
  }
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    out->chain.emplace_back(extra);
  ERR_clear_error(); // the end of the file reads as "no start line"
  return true;
}

bool loadKey(const std::string& path, LoadedCertificate* out, std::vector<Problem>* problems) {
  std::string pem;
  if (!readFile(path, &pem, problems)) return false;
  BioPtr bio = memBio(pem);
  bool asked = false;
  out->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, refusePassword, &asked));
  ERR_clear_error();
  if (asked) {
    out->key.reset();
    problems->push_back({path, "encrypted private keys are not supported: decrypt it (openssl pkey "
                               "-in KEY -out KEY.plain) and protect the file with permissions"});
    return false;
  }
  if (!out->key) {
    problems->push_back({path, "no PEM private key found"});
    return false;
  }
  out->key_type = EVP_PKEY_get_base_id(out->key.get());
  return true;
}

bool checkValidity(const std::string& path, X509* cert, std::vector<Problem>* problems) {
  const ASN1_TIME* before = X509_get0_notBefore(cert);
  const ASN1_TIME* after = X509_get0_notAfter(cert);
  std::string range = "valid from " + timeText(before) + " until " + timeText(after);
  if (X509_cmp_current_time(after) <= 0) {
    problems->push_back({path, "certificate has expired (" + range + ")"});
    return false;
  }
  if (X509_cmp_current_time(before) >= 0) {
    problems->push_back({path, "certificate is not yet valid (" + range + ")"});
    return false;
  }
  return true;
}

} // namespace

bool readFile(const std::string& path, std::string* out, std::vector<Problem>* problems) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    problems->push_back({path, std::strerror(errno)});
    return false;
  }
  out->clear();
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    out->append(buf, n);
  bool ok = std::ferror(f) == 0;
  int err = errno;
  std::fclose(f);
  if (!ok) problems->push_back({path, std::strerror(err)});
  return ok;
}

std::vector<std::string> certificateNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                        static_cast<size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(sans);
    return names; // a SAN without DNS names (IP only) has no CN fallback either
  }
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, cn);
    if (n > 0) names.push_back(lower(std::string(reinterpret_cast<char*>(utf8), n)));
    OPENSSL_free(utf8);
  }
  return names;
}

bool loadCertificate(const CertificateFiles& files, LoadedCertificate* out,
                     std::vector<Problem>* problems) {
  out->files = files;
  bool cert_ok = loadChain(files.cert, out, problems);
  bool key_ok = loadKey(files.key, out, problems);
  if (!cert_ok) return false;
  bool ok = checkValidity(files.cert, out->leaf.get(), problems);
  out->names = certificateNames(out->leaf.get());
  if (out->names.empty()) {
    problems->push_back({files.cert, "certificate has no DNS name (subjectAltName or CN)"});
    ok = false;
  }
  if (!key_ok) return false;
  if (X509_check_private_key(out->leaf.get(), out->key.get()) != 1) {
    ERR_clear_error();
    problems->push_back({files.key, "private key does not match the certificate " + files.cert});
    return false;
  }
  if (out->key_type == EVP_PKEY_RSA && EVP_PKEY_get_bits(out->key.get()) < 2048) {
    problems->push_back({files.key, "RSA key has " +
                                        std::to_string(EVP_PKEY_get_bits(out->key.get())) +
                                        " bits; at least 2048 are required"});
    ok = false;
  }
  return ok;
}

} // namespace tls
