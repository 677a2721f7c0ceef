// The public header comes first: it includes <utility>, which Boost.Asio
// (pulled in by cpprestsdk) needs before itself with GCC 12 and C++20.
#include "bgate/drivers/http/http_client.h"

#include <cpprest/http_client.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <future>
#include <mutex>
#include <system_error>

#include "bgate/drivers/http/crypto.h"
#include "internal.h"

namespace bgate::drivers::http {
namespace {

using web::http::http_exception;
using web::http::http_request;
using web::http::http_response;
using web::http::client::http_client;
using web::http::client::http_client_config;

// cpprestsdk's default is 40 threads; a sidecar sends one request at a time
// per driver, and DNS lookups run on Asio's own resolver thread.
constexpr std::size_t kPoolThreads = 2;
// System CA bundles are ~200 KiB; this only guards against a wrong path.
constexpr std::size_t kMaxCaFileBytes = 16 << 20;
constexpr std::size_t kMaxKeyFileBytes = 64 << 10;
constexpr std::size_t kMaxCertFileBytes = 1 << 20;
constexpr std::string_view kTimeoutDetail = "no answer within the deadline";

void StartThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(kPoolThreads);
    } catch (const std::exception&) {
      // Another part of the process started the pool first; keep it.
    }
  });
}

Response Failed(TransportError error, std::string detail) {
  Response response;
  response.error = error;
  response.error_detail = std::move(detail);
  return response;
}

Response TimedOut() {
  return Failed(TransportError::kTimeout, std::string(kTimeoutDetail));
}

std::string ErrnoText(int error) {
  return std::generic_category().message(error);
}

// --- TLS material ---------------------------------------------------------

struct OpenSslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree>;

// What MakeHttpClient read from the TLS files. Read-only once built, so
// connections on any pool thread share it; each SSL_CTX takes its own
// references.
struct TlsMaterial {
  bool verify = true;
  OpenSslPtr<X509_STORE> trust;         // null: the system's trust store
  std::vector<OpenSslPtr<X509>> chain;  // leaf first; empty: no client cert
  OpenSslPtr<EVP_PKEY> key;
};

// The reason of the oldest queued OpenSSL error, which is then cleared.
std::string TakeOpenSslReason() {
  unsigned long code = ERR_peek_error();
  ERR_clear_error();
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "unrecognised content";
}

// Every certificate in `pem`; `problem` is set when the text is damaged.
std::vector<OpenSslPtr<X509>> ParseCertificates(const std::string& pem,
                                                std::string* problem) {
  ERR_clear_error();
  OpenSslPtr<BIO> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<OpenSslPtr<X509>> certs;
  while (X509* cert =
             PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  // Reading stops with "no start line" at the end of the text; anything
  // else means a damaged certificate.
  unsigned long last = ERR_peek_last_error();
  if (last != 0 && !(ERR_GET_LIB(last) == ERR_LIB_PEM &&
                     ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    *problem = TakeOpenSslReason();
    return {};
  }
  ERR_clear_error();
  if (certs.empty()) *problem = "no PEM certificate found";
  return certs;
}

// Never asks for a passphrase (OpenSSL's default would read the terminal).
int NoPassphrase(char*, int, int, void*) { return 0; }

bool LoadTrust(const std::string& ca_file, TlsMaterial* tls,
               std::string* error) {
  std::string problem;
  auto pem = detail::ReadRegularFile(ca_file, kMaxCaFileBytes, &problem);
  if (!pem) {
    *error = "ca_file " + problem;
    return false;
  }
  auto certs = ParseCertificates(*pem, &problem);
  if (certs.empty()) {
    *error = "ca_file " + ca_file + ": " + problem;
    return false;
  }
  tls->trust.reset(X509_STORE_new());
  for (const auto& cert : certs)
    X509_STORE_add_cert(tls->trust.get(), cert.get());
  return true;
}

bool LoadClientCertificate(const TlsOptions& options, TlsMaterial* tls,
                           std::string* error) {
  std::string problem;
  auto pem = detail::ReadRegularFile(options.client_cert_file,
                                     kMaxCertFileBytes, &problem);
  if (!pem) {
    *error = "client_cert_file " + problem;
    return false;
  }
  tls->chain = ParseCertificates(*pem, &problem);
  if (tls->chain.empty()) {
    *error = "client_cert_file " + options.client_cert_file + ": " + problem;
    return false;
  }
  // A PEM key spans lines, so it is read as a file, not as a one-line
  // credential.
  auto key_pem = detail::ReadRegularFile(options.client_key_file,
                                         kMaxKeyFileBytes, &problem);
  if (!key_pem) {
    *error = "client_key_file " + problem;
    return false;
  }
  OpenSslPtr<BIO> bio(
      BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  tls->key.reset(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr));
  if (!tls->key) {
    ERR_clear_error();
    *error = "client_key_file " + options.client_key_file +
             ": not an unencrypted PEM private key";
    return false;
  }
  if (X509_check_private_key(tls->chain.front().get(), tls->key.get()) != 1) {
    ERR_clear_error();
    *error = "client_key_file " + options.client_key_file +
             ": does not match client_cert_file";
    return false;
  }
  return true;
}

std::shared_ptr<const TlsMaterial> LoadTls(const TlsOptions& options,
                                           std::string* error) {
  auto tls = std::make_shared<TlsMaterial>();
  tls->verify = !options.insecure_skip_verify;
  if (!options.ca_file.empty() &&
      !LoadTrust(options.ca_file, tls.get(), error)) {
    return nullptr;
  }
  if (options.client_cert_file.empty() != options.client_key_file.empty()) {
    *error = "client_cert_file and client_key_file must be set together";
    return nullptr;
  }
  if (!options.client_cert_file.empty() &&
      !LoadClientCertificate(options, tls.get(), error)) {
    return nullptr;
  }
  return tls;
}

// The last certificate verification error seen on an endpoint. cpprestsdk
// reports a failed handshake only as "certificate verify failed"; this keeps
// the why (expired, unknown issuer, name mismatch) for the detail.
struct TlsDiagnostics {
  std::atomic<int> verify_error{X509_V_OK};
};

// Runs OpenSSL's chain verification (which still calls cpprestsdk's
// per-certificate callback) and records why it failed.
int VerifyAndRecord(X509_STORE_CTX* store, void* arg) {
  int ok = X509_verify_cert(store);
  if (ok <= 0) {
    static_cast<TlsDiagnostics*>(arg)->verify_error.store(
        X509_STORE_CTX_get_error(store));
  }
  return ok;
}

// Called by cpprestsdk for every new TLS connection, on a pool thread.
// `diagnostics` outlives every handshake: the config that holds this
// callback lives in the cpprestsdk client, which each request keeps alive.
std::function<void(boost::asio::ssl::context&)> TlsSetup(
    std::shared_ptr<const TlsMaterial> tls,
    std::shared_ptr<TlsDiagnostics> diagnostics, std::string host) {
  return [tls = std::move(tls), diagnostics = std::move(diagnostics),
          host = std::move(host)](boost::asio::ssl::context& context) {
    SSL_CTX* ctx = context.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (tls->trust) SSL_CTX_set1_cert_store(ctx, tls->trust.get());
    if (!tls->chain.empty()) {
      SSL_CTX_use_certificate(ctx, tls->chain.front().get());
      for (std::size_t i = 1; i < tls->chain.size(); ++i) {
        SSL_CTX_add1_chain_cert(ctx, tls->chain[i].get());
      }
      SSL_CTX_use_PrivateKey(ctx, tls->key.get());
    }
    // OpenSSL checks the name too (RFC 6125: no fallback to the subject's
    // common name when the certificate has DNS names), besides the RFC 2818
    // check cpprestsdk does, and says which check failed.
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    if (detail::IsIpLiteral(host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
    SSL_CTX_set_cert_verify_callback(ctx, &VerifyAndRecord, diagnostics.get());
  };
}

// --- Response body --------------------------------------------------------

// Where cpprestsdk writes a response body. Keeps the first `cap` bytes; the
// write that would pass the cap fails, which makes cpprestsdk stop reading
// and drop the connection. Write-only; thread-safe.
class BodySink final
    : public concurrency::streams::details::streambuf_state_manager<uint8_t> {
 public:
  explicit BodySink(std::size_t cap)
      : streambuf_state_manager(std::ios_base::out), cap_(cap) {}

  bool truncated() const {
    std::lock_guard lock(mu_);
    return truncated_;
  }
  std::string Take() {
    std::lock_guard lock(mu_);
    return std::move(data_);
  }

  bool can_seek() const override { return false; }
  bool has_size() const override { return false; }
  size_t buffer_size(std::ios_base::openmode) const override { return 0; }
  void set_buffer_size(size_t, std::ios_base::openmode) override {}
  size_t in_avail() const override { return 0; }
  pos_type getpos(std::ios_base::openmode) const override { return NoPos(); }
  pos_type seekpos(pos_type, std::ios_base::openmode) override {
    return NoPos();
  }
  pos_type seekoff(off_type, std::ios_base::seekdir,
                   std::ios_base::openmode) override {
    return NoPos();
  }
  bool acquire(uint8_t*& ptr, size_t& count) override {
    ptr = nullptr;
    count = 0;
    return false;
  }
  void release(uint8_t*, size_t) override {}

 protected:
  pplx::task<int_type> _putc(uint8_t ch) override {
    return _putn(&ch, 1).then(
        [ch](size_t) { return static_cast<int_type>(ch); });
  }
  pplx::task<size_t> _putn(const uint8_t* ptr, size_t count) override {
    std::lock_guard lock(mu_);
    std::size_t room = cap_ - data_.size();
    data_.append(reinterpret_cast<const char*>(ptr), std::min(count, room));
    if (count > room) {
      truncated_ = true;
      return pplx::task_from_exception<size_t>(std::make_exception_ptr(
          std::length_error("response body over the size limit")));
    }
    return pplx::task_from_result(count);
  }
  pplx::task<int_type> _bumpc() override {
    return pplx::task_from_result(Eof());
  }
  int_type _sbumpc() override { return Eof(); }
  pplx::task<int_type> _getc() override {
    return pplx::task_from_result(Eof());
  }
  int_type _sgetc() override { return Eof(); }
  pplx::task<int_type> _nextc() override {
    return pplx::task_from_result(Eof());
  }
  pplx::task<int_type> _ungetc() override {
    return pplx::task_from_result(Eof());
  }
  pplx::task<size_t> _getn(uint8_t*, size_t) override {
    return pplx::task_from_result<size_t>(0);
  }
  size_t _scopy(uint8_t*, size_t) override { return 0; }
  pplx::task<bool> _sync() override { return pplx::task_from_result(true); }
  uint8_t* _alloc(size_t) override { return nullptr; }
  void _commit(size_t) override {}

 private:
  static int_type Eof() { return traits::eof(); }
  static pos_type NoPos() { return static_cast<pos_type>(traits::eof()); }

  const std::size_t cap_;
  mutable std::mutex mu_;
  std::string data_;
  bool truncated_ = false;
};

// --- One exchange ---------------------------------------------------------

// What an exchange shares with its continuations. Send may return at the
// deadline before they run; they own this state with it, so a late answer
// lands here and nowhere else.
struct Pending {
  pplx::cancellation_token_source cancel;
  std::promise<Response> done;
  std::optional<http_response> head;  // set once the headers are in
  std::shared_ptr<BodySink> body;

  void Finish(pplx::task<http_response> completed) noexcept {
    try {
      try {
        completed.get();
      } catch (...) {
        if (!head || !body->truncated()) throw;
      }
      done.set_value(ToResponse());
    } catch (...) {
      try {
        done.set_exception(std::current_exception());
      } catch (...) {
        // Only a second Finish can get here, and there is none.
      }
    }
  }

  Response ToResponse() {
    Response response;
    response.status = head->status_code();
    for (const auto& [name, value] : head->headers()) {
      std::string lower = utility::conversions::to_utf8string(name);
      for (char& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      response.headers.emplace_back(std::move(lower),
                                    utility::conversions::to_utf8string(value));
    }
    response.body_truncated = body->truncated();
    response.body = body->Take();
    return response;
  }
};

// A token of RFC 9110 (methods, header names).
bool IsToken(std::string_view text) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

bool IsFieldValue(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) ==
         std::string_view::npos;
}

std::optional<http_request> BuildRequest(const Request& request,
                                         const detail::UrlParts& url,
                                         std::string* problem) {
  if (!IsToken(request.method)) {
    *problem = "invalid request method";
    return std::nullopt;
  }
  http_request message(utility::conversions::to_string_t(request.method));
  try {
    message.set_request_uri(
        web::uri(utility::conversions::to_string_t(url.target)));
  } catch (const web::uri_exception&) {
    *problem = "invalid URL: path or query is not percent-encoded";
    return std::nullopt;
  }
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || !IsFieldValue(value)) {
      *problem = "invalid request header";
      return std::nullopt;
    }
    // cpprestsdk derives Host from the URL, and would take a given one as
    // the name to verify the server's certificate against.
    if (detail::EqualsIgnoreCase(name, "host")) continue;
    has_content_type |= detail::EqualsIgnoreCase(name, "content-type");
    message.headers().add(utility::conversions::to_string_t(name),
                          utility::conversions::to_string_t(value));
  }
  if (!request.body.empty()) {
    // A byte container: a std::string would be a char buffer read through a
    // uint8_t stream.
    message.set_body(
        concurrency::streams::bytestream::open_istream(
            std::vector<uint8_t>(request.body.begin(), request.body.end())),
        request.body.size());
    // cpprestsdk adds a default Content-Type, which would break signatures
    // that cover the (absent) header.
    if (!has_content_type) {
      message.headers().remove(web::http::header_names::content_type);
    }
  }
  return message;
}

// --- Telling failures apart ----------------------------------------------

// cpprestsdk reports errors as an int in the system category, so an OpenSSL
// error code arrives as a large number; errno values are small.
bool IsOpenSslCode(int code) {
  return code > 0 && ERR_GET_LIB(static_cast<unsigned long>(code)) != 0 &&
         static_cast<unsigned long>(code) >= (1ul << ERR_LIB_OFFSET);
}

std::string OpenSslText(int code) {
  const char* reason =
      ERR_reason_error_string(static_cast<unsigned long>(code));
  return reason != nullptr ? reason : "TLS error " + std::to_string(code);
}

// The step a cpprestsdk message names, for details.
std::string_view Step(std::string_view what) {
  if (what.starts_with("Failed to write")) return " while sending the request";
  if (what.starts_with("Failed to read") || what.starts_with("Retrieving") ||
      what.starts_with("Invalid")) {
    return " while reading the response";
  }
  return "";
}

// cpprestsdk turns a refused connection into EHOSTUNREACH, so the two are
// told apart by connecting once more, within the deadline. True when that
// connection is refused too.
bool ConnectionRefused(const std::string& host, int port, SteadyTime until) {
  namespace asio = boost::asio;
  using asio::ip::tcp;
  struct Probe {
    explicit Probe(asio::io_context& io)
        : strand(asio::make_strand(io)), resolver(strand), socket(strand) {}
    asio::strand<asio::io_context::executor_type> strand;
    tcp::resolver resolver;
    tcp::socket socket;
    std::promise<boost::system::error_code> done;
  };
  auto probe = std::make_shared<Probe>(
      crossplat::threadpool::shared_instance().service());
  auto result = probe->done.get_future();
  probe->resolver.async_resolve(
      host, std::to_string(port),
      [probe](const boost::system::error_code& error,
              tcp::resolver::results_type found) {
        if (error) {
          probe->done.set_value(error);
          return;
        }
        asio::async_connect(
            probe->socket, found,
            [probe](const boost::system::error_code& connect_error,
                    const tcp::endpoint&) {
              probe->done.set_value(connect_error);
            });
      });
  if (result.wait_until(until) != std::future_status::ready) {
    asio::post(probe->strand, [probe] {
      boost::system::error_code ignored;
      probe->resolver.cancel();
      probe->socket.close(ignored);
    });
    return false;
  }
  return result.get() == asio::error::connection_refused;
}

// --- The client -----------------------------------------------------------

// One cached cpprestsdk client per scheme://host:port.
struct Endpoint {
  std::shared_ptr<http_client> client;
  std::chrono::seconds timeout{0};
  std::shared_ptr<TlsDiagnostics> tls;  // https only
  std::optional<detail::UrlParts> proxy;
  std::string proxy_authorization;  // for plain http through the proxy
};

// Not thread-safe (one driver thread at a time). Requests abandoned at a
// deadline finish on cpprestsdk's pool and touch only state they share-own.
class CpprestClient final : public HttpClient {
 public:
  CpprestClient(ClientOptions options, std::shared_ptr<const TlsMaterial> tls,
                std::map<std::string, std::string> env)
      : options_(std::move(options)),
        tls_(std::move(tls)),
        env_(std::move(env)) {}

  Response Send(const Request& request, const Deadline& deadline) override {
    try {
      return Exchange(request, deadline);
    } catch (...) {
      // cpprestsdk's messages can quote the URL; say nothing of it.
      return Failed(TransportError::kOther,
                    "unexpected failure in the HTTP client");
    }
  }

 private:
  Response Exchange(const Request& request, const Deadline& deadline);
  const Endpoint* EndpointFor(const detail::UrlParts& url,
                              std::chrono::nanoseconds remaining,
                              std::string* problem);
  Response Classify(const http_exception& error, const detail::UrlParts& url,
                    const Endpoint& endpoint, const Deadline& deadline) const;

  const ClientOptions options_;
  const std::shared_ptr<const TlsMaterial> tls_;
  const std::map<std::string, std::string> env_;
  std::map<std::string, Endpoint> endpoints_;
};

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16)
                .ptr == text.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The proxy's user and password, from its URL's user info.
std::optional<std::pair<std::string, std::string>> ProxyCredentials(
    const detail::UrlParts& proxy) {
  if (proxy.userinfo.empty()) return std::nullopt;
  auto colon = proxy.userinfo.find(':');
  return std::pair(PercentDecode(proxy.userinfo.substr(0, colon)),
                   colon == std::string::npos
                       ? std::string()
                       : PercentDecode(proxy.userinfo.substr(colon + 1)));
}

const Endpoint* CpprestClient::EndpointFor(const detail::UrlParts& url,
                                           std::chrono::nanoseconds remaining,
                                           std::string* problem) {
  // The base keeps the port only when the URL has it: cpprestsdk builds the
  // Host header from it, and request signatures cover that header.
  const std::string base = url.scheme + "://" + url.Authority();
  // Rounded up so that later requests with a similar deadline reuse the
  // client and its pooled connections; Send enforces the exact deadline.
  auto timeout = std::max(std::chrono::ceil<std::chrono::seconds>(remaining),
                          std::chrono::seconds(1));
  if (auto it = endpoints_.find(base);
      it != endpoints_.end() && it->second.timeout >= timeout) {
    return &it->second;
  }

  Endpoint endpoint;
  endpoint.timeout = timeout;
  std::string proxy = options_.proxy;
  std::string source = "proxy";
  if (proxy.empty()) {
    proxy = ProxyFromEnvironment(base, env_).value_or("");
    source = "proxy from the environment";
  }
  if (!proxy.empty()) {
    if (auto why = detail::ProxyUrlProblem(proxy)) {
      *problem = source + ": " + *why;
      return nullptr;
    }
    endpoint.proxy = detail::ParseUrl(proxy);
  }

  http_client_config config;
  config.set_timeout(timeout);
  // A redirect would resend signed headers to another URL; drivers see 3xx.
  config.set_max_redirects(0);
  config.set_validate_certificates(tls_->verify);
  if (url.scheme == "https") {
    endpoint.tls = std::make_shared<TlsDiagnostics>();
    config.set_ssl_context_callback(TlsSetup(tls_, endpoint.tls, url.host));
  }
  if (endpoint.proxy) {
    web::web_proxy web_proxy(web::uri(utility::conversions::to_string_t(
        endpoint.proxy->scheme + "://" + endpoint.proxy->HostPort())));
    // cpprestsdk ignores user info in the proxy URL, and on Linux leaks a
    // copy of the password each time it uses its credentials (cpprestsdk
    // issue 1696). Plain requests carry our own header instead; only the
    // CONNECT that opens a tunnel, once per connection, needs them.
    if (auto credentials = ProxyCredentials(*endpoint.proxy)) {
      if (url.scheme == "https") {
        web_proxy.set_credentials(web::credentials(
            utility::conversions::to_string_t(credentials->first),
            utility::conversions::to_string_t(credentials->second)));
      } else {
        endpoint.proxy_authorization =
            "Basic " +
            Base64Encode(credentials->first + ":" + credentials->second);
      }
    }
    config.set_proxy(web_proxy);
  }
  endpoint.client = std::make_shared<http_client>(
      web::uri(utility::conversions::to_string_t(base)), config);
  return &(endpoints_[base] = std::move(endpoint));
}

Response CpprestClient::Exchange(const Request& request,
                                 const Deadline& deadline) {
  auto url = detail::ParseUrl(request.url);
  if (!url || (url->scheme != "http" && url->scheme != "https")) {
    return Failed(TransportError::kOther,
                  "invalid URL: not an absolute http(s) URL");
  }
  if (!url->userinfo.empty()) {
    return Failed(TransportError::kOther,
                  "invalid URL: user info is not supported");
  }
  if (url->IsIpv6())
    return Failed(TransportError::kOther, std::string(detail::kNoIpv6Literals));
  if (deadline.Expired()) return TimedOut();

  std::string problem;
  const Endpoint* endpoint = EndpointFor(*url, deadline.Remaining(), &problem);
  if (endpoint == nullptr) return Failed(TransportError::kOther, problem);
  auto message = BuildRequest(request, *url, &problem);
  if (!message) return Failed(TransportError::kOther, problem);
  if (!endpoint->proxy_authorization.empty()) {
    message->headers().add(
        web::http::header_names::proxy_authorization,
        utility::conversions::to_string_t(endpoint->proxy_authorization));
  }

  auto pending = std::make_shared<Pending>();
  pending->body = std::make_shared<BodySink>(kMaxBodyBytes);
  message->set_response_stream(concurrency::streams::ostream(
      concurrency::streams::streambuf<uint8_t>(pending->body)));
  auto result = pending->done.get_future();
  if (endpoint->tls) endpoint->tls->verify_error.store(X509_V_OK);

  endpoint->client->request(*message, pending->cancel.get_token())
      .then([pending](http_response response) {
        pending->head = response;
        return response.content_ready();
      })
      .then([pending](pplx::task<http_response> completed) {
        pending->Finish(std::move(completed));
      });

  if (result.wait_until(deadline.at()) != std::future_status::ready) {
    // Closes the socket; the continuations still run, on Pending alone.
    pending->cancel.cancel();
    return TimedOut();
  }
  try {
    return result.get();
  } catch (const http_exception& error) {
    return Classify(error, *url, *endpoint, deadline);
  } catch (const pplx::task_canceled&) {
    return TimedOut();
  }
}

Response CpprestClient::Classify(const http_exception& error,
                                 const detail::UrlParts& url,
                                 const Endpoint& endpoint,
                                 const Deadline& deadline) const {
  const std::string_view what = error.what();
  const int code = error.error_code().value();
  // Connecting and resolving concern the proxy when there is one.
  const detail::UrlParts& peer = endpoint.proxy ? *endpoint.proxy : url;
  const std::string peer_name =
      (endpoint.proxy ? "proxy " : "") + peer.HostPort();
  const std::string proxy_note =
      endpoint.proxy ? " (via proxy " + endpoint.proxy->HostPort() + ")" : "";

  if (code == ETIMEDOUT || what.starts_with("Request canceled"))
    return TimedOut();
  if (what.starts_with("Error resolving") ||
      what.starts_with("Failed to resolve")) {
    return Failed(TransportError::kDns,
                  std::string("cannot resolve ") +
                      (endpoint.proxy ? "proxy host " : "host ") + peer.host);
  }
  if (what.starts_with("Error in SSL handshake")) {
    std::string reason;
    if (IsOpenSslCode(code)) {
      reason = OpenSslText(code);
      int verify = endpoint.tls ? endpoint.tls->verify_error.load() : X509_V_OK;
      if (ERR_GET_REASON(static_cast<unsigned long>(code)) ==
              SSL_R_CERTIFICATE_VERIFY_FAILED &&
          verify != X509_V_OK) {
        reason +=
            std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      }
    } else {
      // Asio's "stream truncated" and EOF lose their category on the way.
      reason = "connection closed by peer";
    }
    return Failed(TransportError::kTls,
                  "TLS handshake failed: " + reason + proxy_note);
  }
  if (IsOpenSslCode(code)) {
    // E.g. the server's alert after the handshake: a client certificate it
    // does not accept.
    return Failed(TransportError::kTls, "TLS error" + std::string(Step(what)) +
                                            ": " + OpenSslText(code) +
                                            proxy_note);
  }
  if (what.starts_with("Failed to connect")) {
    if (code == ECONNREFUSED ||
        (code == EHOSTUNREACH &&
         ConnectionRefused(peer.host, peer.port, deadline.at()))) {
      return Failed(TransportError::kRefused,
                    "connection refused by " + peer_name);
    }
    return Failed(TransportError::kConnection,
                  "cannot connect to " + peer_name + ": " + ErrnoText(code));
  }
  if (what.starts_with("Expected a 200 response from proxy")) {
    auto colon = what.rfind(": ");
    return Failed(TransportError::kOther,
                  peer_name + " refused the tunnel with status " +
                      std::string(what.substr(colon + 2)));
  }
  if (what.starts_with("Invalid")) {
    return Failed(TransportError::kOther, "invalid HTTP response" + proxy_note);
  }
  switch (code) {
    case ECONNRESET:
      return Failed(
          TransportError::kConnection,
          "connection reset by peer" + std::string(Step(what)) + proxy_note);
    case ECONNABORTED:  // cpprestsdk's spelling of EOF while reading
    case EPIPE:
    case EHOSTUNREACH:  // and of a broken pipe while writing
    case ENOENT:        // Asio's EOF, category lost
    case EPERM:         // Asio's TLS "stream truncated", category lost
      return Failed(
          TransportError::kConnection,
          "connection closed by peer" + std::string(Step(what)) + proxy_note);
    case ENETUNREACH:
      return Failed(TransportError::kConnection,
                    "network unreachable" + proxy_note);
    default:
      break;
  }
  return Failed(TransportError::kOther,
                "HTTP exchange failed" + std::string(Step(what)) +
                    (code != 0 ? ": " + ErrnoText(code) : std::string()) +
                    proxy_note);
}

}  // namespace

std::unique_ptr<HttpClient> MakeHttpClient(const ClientOptions& options,
                                           std::string* error) {
  auto tls = LoadTls(options.tls, error);
  if (!tls) return nullptr;
  if (!options.proxy.empty()) {
    if (auto why = detail::ProxyUrlProblem(options.proxy)) {
      *error = "proxy: " + *why;
      return nullptr;
    }
  }
  StartThreadPool();
  return std::make_unique<CpprestClient>(options, std::move(tls),
                                         ProxyEnvironment());
}

}  // namespace bgate::drivers::http
