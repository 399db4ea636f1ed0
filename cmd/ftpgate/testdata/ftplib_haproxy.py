#!/usr/bin/env python3
"""Drives ftpgate through HAProxy with Python's ftplib for the integration tests.

Usage: ftplib_haproxy.py HOST PORT USER PASSWORD SOURCE_IP

Connects from SOURCE_IP (control and data connections alike), prints the
server's STAT reply (which names the client address the server saw), then
uploads and downloads through PASV and through EPSV, checking the bytes.
Prints "ok <step>" lines and exits 0, or raises (exit 1).
"""
import ftplib
import hashlib
import io
import sys

TIMEOUT = 60  # an upper bound only: CI machines are loaded


class EPSVFTP(ftplib.FTP):
    """ftplib uses EPSV only over IPv6; this one uses it always."""

    def makepasv(self):
        return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())


def payload(n, seed):
    return hashlib.sha256(seed.encode()).digest() * (n // 32) + b"x" * (n % 32)


def session(cls, host, port, user, password, source, name, data):
    ftp = cls(timeout=TIMEOUT, source_address=(source, 0))
    ftp.connect(host, port)
    ftp.login(user, password)
    print("stat:", ftp.sendcmd("STAT").replace("\r\n", " | ").replace("\n", " | "))
    ftp.storbinary("STOR " + name, io.BytesIO(data))
    got = io.BytesIO()
    ftp.retrbinary("RETR " + name, got.write)
    assert got.getvalue() == data, "downloaded bytes differ for " + name
    ftp.quit()


def main():
    host, port, user, password, source = sys.argv[1:6]
    port = int(port)
    session(ftplib.FTP, host, port, user, password, source, "ftplib-pasv.bin", payload(300_000, "pasv"))
    print("ok pasv")
    session(EPSVFTP, host, port, user, password, source, "ftplib-epsv.bin", payload(300_001, "epsv"))
    print("ok epsv")


if __name__ == "__main__":
    main()
