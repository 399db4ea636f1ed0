#!/usr/bin/env python3
"""Aborts downloads with the Telnet Synch through HAProxy, for the integration tests.

Usage: ftplib_abort_synch.py HOST PORT USER PASSWORD SOURCE_IP FILE

Connects from SOURCE_IP, starts downloading FILE (large: it must still be
running), reads a little, then aborts as RFC 959 4.1.3 describes: IAC IP,
then the Synch (IAC, and DM sent as TCP urgent data), then ABOR. This is
what lftp sends. ftplib's own abort() instead sends "ABOR\\r\\n" with the LF
as urgent data, which a balancer that drops urgent data (HAProxy) cuts to
"ABOR\\r": no server sees a complete line. Expects 426 for the transfer and
226 for ABOR, then checks that the session goes on. Does it twice, so that
both instances behind a round-robin balancer are reached. Prints "ok abort"
lines and exits 0, or raises (exit 1).
"""
import ftplib
import socket
import sys

TIMEOUT = 60  # an upper bound only: CI machines are loaded
IAC, IP, DM = b"\xff", b"\xf4", b"\xf2"


class SynchFTP(ftplib.FTP):
    def abort_with_synch(self):
        self.sock.sendall(IAC + IP + IAC)
        self.sock.send(DM, socket.MSG_OOB)
        self.sock.sendall(b"ABOR\r\n")
        first = self.getmultiline()
        second = self.getmultiline()
        return first, second


def main():
    host, port, user, password, source, name = sys.argv[1:7]
    for _ in range(2):
        ftp = SynchFTP(timeout=TIMEOUT, source_address=(source, 0))
        ftp.connect(host, int(port))
        ftp.login(user, password)
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR " + name)
        got = 0
        while got < 65536:
            chunk = conn.recv(65536)
            assert chunk, "the download ended early"
            got += len(chunk)
        first, second = ftp.abort_with_synch()
        conn.close()
        assert first.startswith("426"), "transfer reply: " + first
        assert second.startswith("226"), "ABOR reply: " + second
        ftp.voidcmd("NOOP")
        ftp.quit()
        print("ok abort", first, "|", second)


if __name__ == "__main__":
    main()
