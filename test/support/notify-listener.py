# A stand-in for systemd's notify socket: prints each datagram on one line (newlines as
# spaces) and closes the file descriptors a BARRIER=1 message carries, as systemd does, so
# systemd-notify's wait for the barrier ends. Usage: notify-listener.py SOCKET_PATH
import array, os, socket, sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(msg.decode().replace("\n", " "), flush=True)
