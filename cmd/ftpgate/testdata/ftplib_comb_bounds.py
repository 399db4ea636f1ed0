#!/usr/bin/env python3
"""COMB's bounds in a tenant with a 100000-byte quota, through ftplib.

Usage: ftplib_comb_bounds.py HOST PORT USER PASSWORD

Prints "ok <step>" lines and exits 0, or raises (exit 1); the Go test
checks the files on disk afterwards.
"""
import ftplib
import io
import sys

TIMEOUT = 60  # an upper bound only: CI machines are loaded


def expect(ftp, line, code):
    """Sends a raw command and checks the reply's code."""
    try:
        reply = ftp.sendcmd(line)
    except ftplib.Error as e:
        reply = str(e)
    if not reply.startswith(str(code) + " "):
        raise AssertionError("%s: got %r, want %d" % (line, reply, code))
    print("ok", line, "->", reply)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=TIMEOUT)
    ftp.login(user, password)
    ftp.storbinary("STOR p1", io.BytesIO(b"1" * 30000))
    ftp.storbinary("STOR p2", io.BytesIO(b"2" * 30000))
    # 60000 bytes used: joining them needs 60000 more, past the quota.
    expect(ftp, "COMB big p1 p2", 552)
    # A file appended to itself through a link is refused outright.
    expect(ftp, "SITE SYMLINK p1 self", 200)
    expect(ftp, "COMB p1 self", 550)
    expect(ftp, "COMB self p1", 550)
    # What the refused COMBs reserved is free again.
    ftp.storbinary("STOR p3", io.BytesIO(b"3" * 30000))
    print("ok p3")
    ftp.quit()
    print("ok quit")


main()
