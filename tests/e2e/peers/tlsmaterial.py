"""Certificates made at test time with the openssl CLI (EC P-256: fast)."""

import pathlib
import subprocess

SERVER_SAN = "IP:127.0.0.1,DNS:localhost"


class TlsMaterial:
    """Files (PEM) under `directory`:

    - ca_cert / ca_key: the CA the drivers are told to trust;
    - server_cert / server_key: for 127.0.0.1 and localhost, signed by the CA;
    - other_ca_cert / other_ca_key: an unrelated CA ("wrong CA");
    - foreign_cert / foreign_key: for 127.0.0.1 and localhost, signed by the
      unrelated CA (a server the drivers must not trust);
    - expired_cert / expired_key: for 127.0.0.1 and localhost, signed by the
      CA, valid only in 2020;
    - client_cert / client_key: a client certificate signed by the CA.
    """

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert, self.ca_key = self._self_signed("ca", "backup-gate test CA")
        self.other_ca_cert, self.other_ca_key = self._self_signed("other-ca", "unrelated test CA")
        self.server_cert, self.server_key = self._signed(
            "server", "127.0.0.1", server=True)
        self.foreign_cert, self.foreign_key = self._signed(
            "foreign", "127.0.0.1", server=True, ca=(self.other_ca_cert, self.other_ca_key))
        self.expired_cert, self.expired_key = self._expired("expired", "127.0.0.1")
        self.client_cert, self.client_key = self._signed(
            "client", "backup-gate test client", server=False)

    def _openssl(self, *args, stdin=None):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True,
                       capture_output=True, input=stdin, timeout=30)

    def _key(self, name):
        key = self.dir / f"{name}.key"
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-out", str(key))
        key.chmod(0o600)
        return key

    def _self_signed(self, name, cn):
        key = self._key(name)
        cert = self.dir / f"{name}.pem"
        self._openssl("req", "-x509", "-new", "-key", str(key), "-out", str(cert),
                      "-days", "2", "-subj", f"/CN={cn}",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def _extensions(self, name, server):
        ext = self.dir / f"{name}.ext"
        if server:
            ext.write_text("basicConstraints=CA:FALSE\n"
                           "keyUsage=digitalSignature\n"
                           "extendedKeyUsage=serverAuth\n"
                           f"subjectAltName={SERVER_SAN}\n")
        else:
            ext.write_text("basicConstraints=CA:FALSE\n"
                           "keyUsage=digitalSignature\n"
                           "extendedKeyUsage=clientAuth\n")
        return ext

    def _csr(self, name, cn):
        key = self._key(name)
        csr = self.dir / f"{name}.csr"
        self._openssl("req", "-new", "-key", str(key), "-out", str(csr),
                      "-subj", f"/CN={cn}")
        return key, csr

    def _signed(self, name, cn, server, ca=None):
        ca_cert, ca_key = ca or (self.ca_cert, self.ca_key)
        key, csr = self._csr(name, cn)
        cert = self.dir / f"{name}.pem"
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert),
                      "-CAkey", str(ca_key), "-CAcreateserial",
                      "-out", str(cert), "-days", "2",
                      "-extfile", str(self._extensions(name, server)))
        return cert, key

    def _expired(self, name, cn):
        # `openssl x509` cannot back-date; `openssl ca` takes explicit dates.
        key, csr = self._csr(name, cn)
        cert = self.dir / f"{name}.pem"
        ca_dir = self.dir / "ca-db"
        ca_dir.mkdir(exist_ok=True)
        (ca_dir / "index.txt").write_text("")
        (ca_dir / "serial").write_text("1000\n")
        conf = self.dir / "ca.cnf"
        conf.write_text(f"""[ca]
default_ca = test_ca
[test_ca]
database = {ca_dir}/index.txt
serial = {ca_dir}/serial
new_certs_dir = {ca_dir}
default_md = sha256
policy = anything
copy_extensions = none
x509_extensions = server_ext
unique_subject = no
[anything]
commonName = supplied
[server_ext]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {SERVER_SAN}
""")
        self._openssl("ca", "-batch", "-config", str(conf), "-cert", str(self.ca_cert),
                      "-keyfile", str(self.ca_key), "-in", str(csr), "-out", str(cert),
                      "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                      "-notext")
        return cert, key
