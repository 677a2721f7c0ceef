"""Real storage peers for the end-to-end tests of the object-store drivers.

Each peer runs on a free 127.0.0.1 port, once per test run (session-scoped
fixtures in `peers.fixtures`), with a readiness wait and a clean stop: no
process outlives the run and every temporary directory is removed.

- `swift.SwiftAllInOne`: OpenStack Swift with tempauth and s3api in the proxy
  pipeline, so it serves the `swift` and the `s3` drivers; a second proxy
  on the same rings speaks TLS.
- `azurite.Azurite`: the Azure Blob emulator, with Shared Key and SAS helpers.
- `netfaults`: a blackhole listener, a refused port, a TLS-terminating
  forwarder (any certificate in front of any plain peer).
- `tlsmaterial.TlsMaterial`: a CA, a server certificate for 127.0.0.1 and
  localhost, an unrelated CA, an expired certificate, a client certificate,
  all made at test time with the openssl CLI.
"""
