#include "shared_key.h"

#include <algorithm>
#include <array>
#include <map>

#include "bgate/drivers/http/crypto.h"

namespace bgate::drivers::azure_blob::detail {
namespace {

// The standard headers of the string-to-sign, in their order; the verb
// precedes them and Content-Length (third) is taken from the body.
constexpr std::array<std::string_view, 11> kStandardHeaders = {
    "content-encoding", "content-language", "",
    "content-md5",      "content-type",     "date",
    "if-modified-since", "if-match",        "if-none-match",
    "if-unmodified-since", "range",
};
constexpr std::size_t kContentLengthSlot = 2;

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string ToLower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Trims and folds white space runs, as the service does before comparing.
std::string FoldWhitespace(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string HeaderValue(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (ToLower(key) == name) return value;
  }
  return {};
}

std::string JoinValues(std::vector<std::string> values, bool sort) {
  if (sort) std::sort(values.begin(), values.end());
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out.push_back(',');
    out += values[i];
  }
  return out;
}

}  // namespace

UrlParts SplitUrl(std::string_view url) {
  if (std::size_t hash = url.find('#'); hash != std::string_view::npos) {
    url = url.substr(0, hash);
  }
  std::string_view query;
  if (std::size_t q = url.find('?'); q != std::string_view::npos) {
    query = url.substr(q + 1);
    url = url.substr(0, q);
  }
  std::string_view path = url;
  if (std::size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    std::size_t slash = url.find('/', scheme + 3);
    path = slash == std::string_view::npos ? std::string_view()
                                           : url.substr(slash);
  }
  return {path.empty() ? "/" : std::string(path), std::string(query)};
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string CanonicalizedHeaders(const HeaderList& headers) {
  std::map<std::string, std::vector<std::string>> ms_headers;
  for (const auto& [name, value] : headers) {
    std::string lower = ToLower(name);
    if (!lower.starts_with("x-ms-")) continue;
    ms_headers[lower].push_back(FoldWhitespace(value));
  }
  std::string out;
  for (auto& [name, values] : ms_headers) {
    out += name + ":" + JoinValues(std::move(values), /*sort=*/false) + "\n";
  }
  return out;
}

std::string CanonicalizedResource(std::string_view account,
                                  std::string_view url) {
  UrlParts parts = SplitUrl(url);
  std::string out = "/" + std::string(account) + parts.path;

  std::map<std::string, std::vector<std::string>> params;
  std::string_view query = parts.query;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string name = ToLower(PercentDecode(pair.substr(0, eq)));
    std::string value = eq == std::string_view::npos
                            ? std::string()
                            : PercentDecode(pair.substr(eq + 1));
    params[name].push_back(std::move(value));
  }
  for (auto& [name, values] : params) {
    out += "\n" + name + ":" + JoinValues(std::move(values), /*sort=*/true);
  }
  return out;
}

std::string StringToSign(const http::Request& request,
                         std::string_view account) {
  std::string out = request.method + "\n";
  for (std::size_t i = 0; i < kStandardHeaders.size(); ++i) {
    if (i == kContentLengthSlot) {
      if (!request.body.empty()) out += std::to_string(request.body.size());
    } else {
      out += HeaderValue(request.headers, kStandardHeaders[i]);
    }
    out += "\n";
  }
  return out + CanonicalizedHeaders(request.headers) +
         CanonicalizedResource(account, request.url);
}

std::string Signature(std::string_view key, std::string_view string_to_sign) {
  return http::Base64Encode(http::HmacSha256(key, string_to_sign));
}

void SignRequest(http::Request& request, std::string_view account,
                 std::string_view key) {
  std::string signature = Signature(key, StringToSign(request, account));
  request.headers.emplace_back(
      "Authorization", "SharedKey " + std::string(account) + ":" + signature);
}

}  // namespace bgate::drivers::azure_blob::detail
