#!/usr/bin/env python3
"""Drives ftpgate's command extensions with Python's ftplib raw commands.

Usage: ftplib_ext.py HOST PORT USER PASSWORD

The server must run with --enable-hash and --enable-comb. Prints
"ok <step>" lines and exits 0, or raises (exit 1). The Go test checks the
files on the server's disk afterwards.
"""
import ftplib
import hashlib
import io
import sys

TIMEOUT = 60  # an upper bound only: CI machines are loaded


def expect(ftp, line, code, text=None):
    """Sends a raw command and checks the reply's code (and text)."""
    try:
        reply = ftp.sendcmd(line)
    except ftplib.Error as e:
        reply = str(e)
    if not reply.startswith(str(code) + " "):
        raise AssertionError("%s: got %r, want %d" % (line, reply, code))
    if text is not None and reply[4:] != text:
        raise AssertionError("%s: got %r, want text %r" % (line, reply, text))
    print("ok", line)
    return reply[4:]


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=TIMEOUT)
    ftp.login(user, password)

    data = bytes(range(256)) * 4000 + b"end"
    ftp.storbinary("STOR hashed.bin", io.BytesIO(data))
    last = len(data) - 1

    feat = ftp.sendcmd("FEAT")
    if " HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32" not in feat:
        raise AssertionError("FEAT: %r" % feat)
    expect(ftp, "OPTS HASH", 200, "SHA-256")
    expect(ftp, "HASH hashed.bin", 213,
           "SHA-256 0-%d %s /hashed.bin" % (last, hashlib.sha256(data).hexdigest()))
    expect(ftp, "OPTS HASH SHA-512", 200, "SHA-512")
    expect(ftp, "HASH hashed.bin", 213,
           "SHA-512 0-%d %s /hashed.bin" % (last, hashlib.sha512(data).hexdigest()))
    expect(ftp, "OPTS HASH MD5", 200, "MD5")
    expect(ftp, "RANG 100 199", 350)
    expect(ftp, "HASH hashed.bin", 213,
           "MD5 100-199 %s /hashed.bin" % hashlib.md5(data[100:200]).hexdigest())
    expect(ftp, "RANG 1 0", 350)
    expect(ftp, "XSHA256 hashed.bin", 250, hashlib.sha256(data).hexdigest())
    expect(ftp, 'XSHA1 "hashed.bin" 10 20', 250, hashlib.sha1(data[10:20]).hexdigest())
    expect(ftp, "OPTS HASH NOPE", 501)
    expect(ftp, "HASH missing.bin", 550)

    # The binary answers AVBL from statfs(2) on its root.
    if " AVBL" not in feat:
        raise AssertionError("FEAT lacks AVBL: %r" % feat)
    if int(expect(ftp, "AVBL", 213)) <= 0:
        raise AssertionError("AVBL: no space reported")
    expect(ftp, "AVBL missing-dir", 550)
    print("ok avbl")

    ftp.storbinary("STOR part1", io.BytesIO(b"first-"))
    ftp.storbinary("STOR part 2", io.BytesIO(b"second"))
    expect(ftp, 'COMB "combined.txt" "part1" "part 2"', 200)

    expect(ftp, "MFMT 20200102030405 combined.txt", 213, "Modify=20200102030405; /combined.txt")
    expect(ftp, "MDTM combined.txt", 213, "20200102030405")

    expect(ftp, "SITE CHMOD 640 combined.txt", 200)
    # --user accounts have no symlink right (tenancy's default, README).
    expect(ftp, "SITE SYMLINK combined.txt link.txt", 550)
    expect(ftp, "SITE NOSUCH", 504)
    ftp.quit()
    print("ok quit")


if __name__ == "__main__":
    main()
