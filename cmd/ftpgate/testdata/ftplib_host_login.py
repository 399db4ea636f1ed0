# Logs in with HOST, then tries one upload: prints "stored" or
# "refused <reply>". Arguments: host port hostname user password.
import ftplib
import io
import sys

host, port, hostname, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
f = ftplib.FTP()
f.connect(host, port, timeout=10)
print(f.sendcmd("HOST " + hostname))
f.login(user, password)
try:
    f.storbinary("STOR f.txt", io.BytesIO(b"x"))
    print("stored")
except ftplib.error_perm as e:
    print("refused", e)
f.quit()
print("ok quit")
