#!/usr/bin/env python3
"""A line-driven FTP client (Python's ftplib) for the cluster integration test.

Usage: cluster_client.py HOST PORT USER PASSWORD SOURCE_IP

Reads one command a line on stdin and answers each with one line on
stdout, so that the test decides when each step happens:

  connect                 (re)connect through the balancer and log in:
                          "ok connect PORT LOCAL" (PORT: the passive port of
                          an EPSV, which names the instance; LOCAL: the control
                          connection's own port) or "err connect MSG"
  put NAME SIZE           upload SIZE bytes made from NAME: "ack NAME PORT" or "err NAME MSG"
  put-retry NAME SIZE     put; on an error reconnect (at most 10 times) and
                          retry: "ack NAME PORT RECONNECTS" or "err NAME MSG"
  put-hold NAME SIZE      send the first half of an upload, answer "sending NAME PORT",
                          read one more line, send the rest: "ack ..." or "err ..."
  get NAME                "got NAME SHA256 PORT" or "err NAME MSG"
  dele NAME               "ok dele NAME" or "err dele MSG"
  noop                    "ok noop" or "err noop MSG"
  quit                    "ok quit", then exit

Control and data connections come from SOURCE_IP. The file content of
NAME is payload(NAME, SIZE), which the test makes the same way.
"""
import ftplib
import hashlib
import sys

TIMEOUT = 60  # an upper bound only: CI machines are loaded


class EPSVFTP(ftplib.FTP):
    """Uses EPSV always, and remembers the last passive port."""

    last_port = 0

    def makepasv(self):
        host, port = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        self.last_port = port
        return host, port


def payload(name, size):
    block = hashlib.sha256(name.encode()).digest()
    return (block * (size // 32 + 1))[:size]


class Client:
    def __init__(self, host, port, user, password, source):
        self.host, self.port, self.user, self.password, self.source = host, port, user, password, source
        self.ftp = None

    def close(self):
        if self.ftp is not None:
            try:
                self.ftp.close()
            except OSError:
                pass
            self.ftp = None

    def connect(self):
        self.close()
        ftp = EPSVFTP(timeout=TIMEOUT, source_address=(self.source, 0))
        ftp.connect(self.host, self.port)
        ftp.login(self.user, self.password)
        ftp.nlst()  # one EPSV: the instance
        self.ftp = ftp
        return "%d %d" % (ftp.last_port, ftp.sock.getsockname()[1])

    def put(self, name, data, hold=False):
        if self.ftp is None:
            raise ftplib.Error("not connected")
        self.ftp.voidcmd("TYPE I")
        conn = self.ftp.transfercmd("STOR " + name)
        try:
            half = len(data) // 2
            if hold:
                conn.sendall(data[:half])
                say("sending", name, self.ftp.last_port)
                sys.stdin.readline()
                conn.sendall(data[half:])
            else:
                conn.sendall(data)
        finally:
            conn.close()
        self.ftp.voidresp()
        return self.ftp.last_port


def say(*words):
    print(" ".join(str(w) for w in words), flush=True)


def one_line(e):
    return str(e).replace("\n", " ").replace("\r", " ") or type(e).__name__


def main():
    host, port, user, password, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    c = Client(host, port, user, password, source)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        try:
            if cmd == "connect":
                try:
                    say("ok connect", c.connect())
                except (OSError, EOFError, ftplib.Error) as e:
                    c.close()
                    say("err connect", one_line(e))
            elif cmd in ("put", "put-hold"):
                name, size = args[0], int(args[1])
                try:
                    say("ack", name, c.put(name, payload(name, size), hold=cmd == "put-hold"))
                except (OSError, EOFError, ftplib.Error) as e:
                    say("err", name, one_line(e))
            elif cmd == "put-retry":
                name, size = args[0], int(args[1])
                data = payload(name, size)
                last = None
                for reconnects in range(11):
                    try:
                        if reconnects > 0 or c.ftp is None:
                            c.connect()
                        say("ack", name, c.put(name, data), reconnects)
                        break
                    except (OSError, EOFError, ftplib.Error) as e:
                        last = e
                        c.close()
                else:
                    say("err", name, one_line(last))
            elif cmd == "get":
                name = args[0]
                h = hashlib.sha256()
                try:
                    c.ftp.retrbinary("RETR " + name, h.update)
                    say("got", name, h.hexdigest(), c.ftp.last_port)
                except (OSError, EOFError, ftplib.Error, AttributeError) as e:
                    say("err", name, one_line(e))
            elif cmd == "dele":
                try:
                    c.ftp.delete(args[0])
                    say("ok dele", args[0])
                except (OSError, EOFError, ftplib.Error, AttributeError) as e:
                    say("err dele", one_line(e))
            elif cmd == "noop":
                try:
                    c.ftp.voidcmd("NOOP")
                    say("ok noop")
                except (OSError, EOFError, ftplib.Error, AttributeError) as e:
                    say("err noop", one_line(e))
            elif cmd == "quit":
                try:
                    if c.ftp is not None:
                        c.ftp.quit()
                except (OSError, EOFError, ftplib.Error):
                    pass
                say("ok quit")
                return
            else:
                say("err", cmd, "unknown command")
        except (IndexError, ValueError) as e:
            say("err", cmd, one_line(e))


if __name__ == "__main__":
    main()
