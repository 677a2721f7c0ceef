"""A small AWS Signature Version 4 client for S3 (path-style), from the
standard library only: enough to prepare buckets and to prove that a peer
checks signatures."""

import datetime
import hashlib
import hmac
import http.client
import ssl
import urllib.parse

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def _hmac(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _quote(text, safe="-_.~"):
    return urllib.parse.quote(text, safe=safe)


def sign(method, host, path, query, headers, payload, access_key, secret_key,
         region, service="s3", now=None):
    """Returns the headers (with Authorization) of a signed request.
    `path` is already percent-encoded; `query` is a dict of raw values."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(payload).hexdigest()
    all_headers = {k.lower(): str(v).strip() for k, v in headers.items()}
    all_headers["host"] = host
    all_headers["x-amz-date"] = amz_date
    all_headers["x-amz-content-sha256"] = payload_hash
    names = sorted(all_headers)
    canonical_headers = "".join(f"{n}:{all_headers[n]}\n" for n in names)
    signed_headers = ";".join(names)
    canonical_query = "&".join(
        f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    canonical_request = "\n".join([method, path, canonical_query, canonical_headers,
                                   signed_headers, payload_hash])
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in all_headers.items() if k != "host"}
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={signed_headers}, Signature={signature}")
    return out


class S3Client:
    """Path-style S3 requests to one endpoint (http:// or https://)."""

    def __init__(self, endpoint, access_key, secret_key, region="us-east-1",
                 ca_file=None):
        parsed = urllib.parse.urlsplit(endpoint)
        self.scheme = parsed.scheme
        self.host = parsed.netloc
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.ca_file = ca_file

    def request(self, method, bucket="", key="", query=None, body=b"", headers=None,
                timeout=10):
        """Returns (status, headers, body bytes)."""
        path = "/" + _quote(bucket, safe="") if bucket else "/"
        if key:
            path += "/" + _quote(key, safe="/-_.~")
        query = query or {}
        signed = sign(method, self.host, path, query, headers or {}, body,
                      self.access_key, self.secret_key, self.region)
        url = path
        if query:
            url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=self.ca_file)
            conn = http.client.HTTPSConnection(self.host, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(self.host, timeout=timeout)
        try:
            conn.request(method, url, body=body, headers=signed)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()
