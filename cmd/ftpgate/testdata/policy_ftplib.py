#!/usr/bin/env python3
"""Drives ftpgate's policy integration test with Python's ftplib.

Usage: policy_ftplib.py HOST PORT USER PASSWORD

One session, kept open throughout: DELE is refused by the first policy;
the script prints "swap" and waits for a line on stdin while the test
installs a second policy; then MKD must be refused by the second one.
Prints "denied1 <reply>" and "denied2 <reply>".
"""
import ftplib
import sys


def refused(ftp, cmd):
    try:
        ftp.voidcmd(cmd)
    except ftplib.error_perm as e:
        return str(e)
    except ftplib.error_temp as e:
        return str(e)
    raise AssertionError(cmd + " was not refused")


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=20)
    ftp.login(user, password)
    print("denied1 " + refused(ftp, "DELE keep.txt"), flush=True)
    print("swap", flush=True)
    sys.stdin.readline()
    print("denied2 " + refused(ftp, "MKD newdir"), flush=True)
    ftp.quit()


if __name__ == "__main__":
    main()
