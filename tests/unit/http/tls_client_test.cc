#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "bgate/drivers/http/http_client.h"
#include "local_servers.h"

namespace bgate::drivers::http {
namespace {

using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

std::string Describe(const Response& r) {
  return std::string(TransportErrorName(r.error)) + ": " + r.error_detail;
}

// A throwaway PKI made with the openssl CLI once per suite, and
// `openssl s_server -www` as the peer.
class TlsClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string ec =
        " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    const std::string sign = " -CA ca.pem -CAkey ca.key ";
    const std::string script =
        "cd '" + dir_->path() + "' && " + "openssl req -x509" + ec +
        "-keyout ca.key -out ca.pem -days 2 -subj '/CN=bgate test CA' && " +
        "openssl req -x509" + ec +
        "-keyout other.key -out other.pem -days 2 -subj '/CN=other CA' && " +
        "openssl req" + ec +
        "-keyout server.key -out server.csr -subj '/CN=bgate test server' && " +
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.cnf && " +
        "printf 'subjectAltName=DNS:wrong.example\\n' > wrong.cnf && " +
        "printf 'extendedKeyUsage=clientAuth\\n' > client.cnf && " +
        "openssl x509 -req -in server.csr" + sign +
        "-set_serial 1 -days 2 -extfile san.cnf -out server.pem && " +
        "openssl x509 -req -in server.csr" + sign +
        "-set_serial 2 -days -1 -extfile san.cnf -out expired.pem && " +
        "openssl x509 -req -in server.csr" + sign +
        "-set_serial 3 -days 2 -extfile wrong.cnf -out wrongname.pem && " +
        "openssl req" + ec +
        "-keyout client.key -out client.csr -subj '/CN=bgate client' && " +
        "openssl x509 -req -in client.csr" + sign +
        "-set_serial 4 -days 2 -extfile client.cnf -out client.pem";
    pki_ready_ = std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!pki_ready_)
      GTEST_SKIP() << "the openssl CLI could not make test certificates";
  }

  static std::string File(const std::string& name) { return dir_->File(name); }

  // Serves `cert` on a fresh port until the test ends. The port is free
  // when chosen but may be taken before s_server binds it: then retry.
  int Serve(const std::string& cert, std::vector<std::string> extra = {}) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      int port = testing::FreePort();
      std::vector<std::string> argv = {"openssl",
                                       "s_server",
                                       "-www",
                                       "-accept",
                                       std::to_string(port),
                                       "-cert",
                                       File(cert),
                                       "-key",
                                       File("server.key")};
      argv.insert(argv.end(), extra.begin(), extra.end());
      auto server = std::make_unique<ChildProcess>(argv);
      if (testing::WaitForListener(port, 5s,
                                   [&] { return server->Running(); })) {
        servers_.push_back(std::move(server));
        return port;
      }
    }
    ADD_FAILURE() << "s_server did not start";
    return 0;
  }

  static Response Get(const ClientOptions& options, const std::string& url) {
    std::string error;
    auto client = MakeHttpClient(options, &error);
    if (client == nullptr) {
      ADD_FAILURE() << error;
      return {};
    }
    return client->Send({"GET", url, {}, ""}, Deadline::After(5s));
  }

  static ClientOptions TrustingCa(const std::string& ca = "ca.pem") {
    ClientOptions options;
    options.tls.ca_file = File(ca);
    return options;
  }

  static std::string Url(int port, const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(port) + "/";
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline bool pki_ready_ = false;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
};

TEST_F(TlsClientTest, RightCaGetsAnAnswer) {
  int port = Serve("server.pem");
  Response r = Get(TrustingCa(), Url(port));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 200);
  r = Get(TrustingCa(), Url(port, "localhost"));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 200);
}

TEST_F(TlsClientTest, WrongCaFailsTheHandshake) {
  int port = Serve("server.pem");
  Response r = Get(TrustingCa("other.pem"), Url(port));
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_EQ(
      r.error_detail,
      "TLS handshake failed: certificate verify failed (unable to get local "
      "issuer certificate)");
}

TEST_F(TlsClientTest, SystemTrustStoreRejectsAPrivateCa) {
  int port = Serve("server.pem");
  Response r = Get({}, Url(port));
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_THAT(r.error_detail,
              StartsWith("TLS handshake failed: certificate verify failed"));
}

TEST_F(TlsClientTest, ExpiredCertificateFails) {
  int port = Serve("expired.pem");
  Response r = Get(TrustingCa(), Url(port));
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_EQ(r.error_detail,
            "TLS handshake failed: certificate verify failed (certificate has "
            "expired)");
}

TEST_F(TlsClientTest, CertificateForAnotherNameFails) {
  int port = Serve("wrongname.pem");
  Response r = Get(TrustingCa(), Url(port));
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_EQ(
      r.error_detail,
      "TLS handshake failed: certificate verify failed (IP address mismatch)");
  r = Get(TrustingCa(), Url(port, "localhost"));
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_EQ(
      r.error_detail,
      "TLS handshake failed: certificate verify failed (hostname mismatch)");
}

TEST_F(TlsClientTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  ClientOptions insecure;
  insecure.tls.insecure_skip_verify = true;
  for (const char* cert : {"server.pem", "expired.pem", "wrongname.pem"}) {
    int port = Serve(cert);
    Response r = Get(insecure, Url(port));
    ASSERT_TRUE(r.ok()) << cert << ": " << Describe(r);
    EXPECT_EQ(r.status, 200);
  }
}

TEST_F(TlsClientTest, ClientCertificateIsPresented) {
  int port = Serve("server.pem", {"-Verify", "1", "-CAfile", File("ca.pem")});
  ClientOptions options = TrustingCa();
  options.tls.client_cert_file = File("client.pem");
  options.tls.client_key_file = File("client.key");
  Response r = Get(options, Url(port));
  ASSERT_TRUE(r.ok()) << Describe(r);
  EXPECT_EQ(r.status, 200);

  r = Get(TrustingCa(), Url(port));
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_THAT(r.error_detail, HasSubstr("certificate required"));
}

TEST_F(TlsClientTest, KeyThatDoesNotMatchTheCertificateFailsConstruction) {
  ClientOptions options = TrustingCa();
  options.tls.client_cert_file = File("client.pem");
  options.tls.client_key_file = File("server.key");
  std::string error;
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error, "client_key_file " + File("server.key") +
                       ": does not match client_cert_file");

  options.tls.client_key_file = File("client.pem");
  EXPECT_EQ(MakeHttpClient(options, &error), nullptr);
  EXPECT_EQ(error, "client_key_file " + File("client.pem") +
                       ": not an unencrypted PEM private key");
}

TEST_F(TlsClientTest, PlainHttpServerOnAnHttpsUrlIsTls) {
  testing::BoundSocket raw;
  raw.Listen();
  std::thread answer([&] {
    int fd = ::accept(raw.fd(), nullptr, nullptr);
    const char reply[] =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    ::send(fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL);
    ::close(fd);
  });
  Response r = Get(TrustingCa(), Url(raw.port()));
  answer.join();
  EXPECT_EQ(r.error, TransportError::kTls) << Describe(r);
  EXPECT_THAT(r.error_detail, StartsWith("TLS handshake failed: "));
}

}  // namespace
}  // namespace bgate::drivers::http
