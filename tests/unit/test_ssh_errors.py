"""A guest whose sshd closes the connection before its banner (one still booting, say) is one
error from connect(), with no traceback from paramiko's own thread on stderr. A process of its
own: pytest's log capture would hide what logging prints on stderr in a plain ptnet run."""

import socket
import subprocess
import sys
import threading

SCRIPT = """
import sys
from pathlib import Path
from ptnet.errors import PtnetError
from ptnet.guest import ssh
try:
    ssh.connect(ssh.Target(int(sys.argv[1]), Path(sys.argv[2])))
except PtnetError as exc:
    print(exc)
"""


def test_a_closed_connection_before_the_banner_is_one_error_and_no_traceback(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def close_at_once() -> None:
        conn, _ = server.accept()
        conn.close()

    t = threading.Thread(target=close_at_once, daemon=True)
    t.start()
    known = tmp_path / "known_hosts"
    known.write_text("")
    port = server.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(port), str(known)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PTNET_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"},
    )
    t.join(5)
    server.close()
    assert proc.stdout.startswith(f"SSH to 127.0.0.1:{port} failed: "), proc.stdout
    assert proc.stderr == "", proc.stderr
