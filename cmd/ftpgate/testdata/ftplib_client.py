#!/usr/bin/env python3
"""Drives a running ftpgate with Python's ftplib for the integration tests.

Usage: ftplib_client.py SCENARIO HOST PORT USER PASSWORD

Each scenario prints "ok <step>" lines and exits 0, or raises (exit 1).
The Go test checks the files on the server's disk afterwards.
"""
import ftplib
import hashlib
import io
import os
import socket
import ssl
import sys

TIMEOUT = 60  # an upper bound only: CI machines are loaded


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ImplicitFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS for implicit FTPS: the control socket is TLS from the start."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if host:
            self.host = host
        if port:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self.af = self.sock.family
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def payload(n, seed):
    return hashlib.sha256(seed.encode()).digest() * (n // 32) + b"x" * (n % 32)


def roundtrip(ftp, name, data):
    ftp.storbinary("STOR " + name, io.BytesIO(data))
    got = io.BytesIO()
    ftp.retrbinary("RETR " + name, got.write)
    assert got.getvalue() == data, "downloaded bytes differ for " + name
    assert ftp.size(name) == len(data), "SIZE differs for " + name


def plain(host, port, user, password, passive=True):
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=TIMEOUT)
    ftp.login(user, password)
    ftp.set_pasv(passive)
    mode = "pasv" if passive else "active"
    data = payload(3 * 1024 * 1024 + 5, mode)
    roundtrip(ftp, "py-%s.bin" % mode, data)
    print("ok roundtrip", mode)

    ftp.mkd("py-dir-" + mode)
    ftp.cwd("py-dir-" + mode)
    assert ftp.pwd() == "/py-dir-" + mode
    ftp.storbinary("STOR inner.txt", io.BytesIO(b"inner\n"))
    ftp.cwd("..")
    facts = dict(ftp.mlsd("py-dir-" + mode))
    assert facts["inner.txt"]["type"] == "file" and facts["inner.txt"]["size"] == "6", facts
    print("ok mlsd")
    assert "py-dir-%s/inner.txt" % mode in ftp.nlst("py-dir-" + mode), ftp.nlst("py-dir-" + mode)
    print("ok nlst")

    ftp.rename("py-%s.bin" % mode, "py-%s-renamed.bin" % mode)
    print("ok rename")
    got = io.BytesIO()
    ftp.retrbinary("RETR py-%s-renamed.bin" % mode, got.write, rest=1000)
    assert got.getvalue() == data[1000:], "REST download differs"
    print("ok rest")
    ftp.delete("py-%s-renamed.bin" % mode)
    try:
        ftp.size("py-%s-renamed.bin" % mode)
        raise AssertionError("deleted file still has a size")
    except ftplib.error_perm:
        pass
    print("ok delete")
    ftp.delete("py-dir-%s/inner.txt" % mode)
    ftp.rmd("py-dir-" + mode)
    print("ok rmd")
    ftp.quit()


def abort(host, port, user, password):
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=TIMEOUT)
    ftp.login(user, password)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    conn.recv(4096)
    resp = ftp.abort()
    assert resp.startswith("426"), resp
    resp = ftp.getresp()
    assert resp.startswith("226"), resp
    conn.close()
    assert ftp.voidcmd("NOOP").startswith("200")
    print("ok abort")
    ftp.quit()


def explicit_tls(host, port, user, password):
    ftp = ftplib.FTP_TLS(context=tls_context())
    ftp.connect(host, port, timeout=TIMEOUT)
    ftp.login(user, password)
    ftp.prot_p()
    roundtrip(ftp, "py-tls.bin", payload(1024 * 1024 + 3, "tls"))
    print("ok explicit tls")
    ftp.quit()


def implicit_tls(host, port, user, password):
    ftp = ImplicitFTP_TLS(context=tls_context())
    ftp.connect(host, port, timeout=TIMEOUT)
    ftp.login(user, password)
    ftp.prot_p()
    roundtrip(ftp, "py-implicit.bin", payload(1024 * 1024 + 9, "implicit"))
    print("ok implicit tls")
    ftp.quit()


SCENARIOS = {
    "plain": lambda *a: plain(*a, passive=True),
    "active": lambda *a: plain(*a, passive=False),
    "abort": abort,
    "explicit-tls": explicit_tls,
    "implicit-tls": implicit_tls,
}

if __name__ == "__main__":
    scenario, host, port, user, password = sys.argv[1:6]
    SCENARIOS[scenario](host, int(port), user, password)
