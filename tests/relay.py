"""A TCP relay to a database server that a test can silence or cut, to play the network
between the app and PostgreSQL failing under it."""

from __future__ import annotations

import select
import socket
import threading


class DatabaseRelay:
    """Listens on 127.0.0.1:`port` (a free one by default) and passes every connection on
    to `host`:`port` of the target. freeze(): every connection stays open and nothing passes
    (a host that died under them: a power cut, a partition). cut(): the listener and every
    connection close, so each side sees the connection end and new ones are refused (a
    server restarting, a failover). restore(): taken again on the same port."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.frozen = threading.Event()
        self.port = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def url_for(self, url):
        """`url` (a SQLAlchemy URL) through this relay."""
        relayed = url.set(host="127.0.0.1", port=self.port)
        return relayed.render_as_string(hide_password=False)

    def restore(self) -> None:
        self.frozen.clear()
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._open.append(listener)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def freeze(self) -> None:
        self.frozen.set()

    def cut(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for each in sockets:
            try:
                each.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # a listener, or already closed
            each.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
                far = socket.create_connection(self.target)
            except OSError:
                return
            with self._lock:
                self._open += [near, far]
            threading.Thread(target=self._pass_on, args=(near, far), daemon=True).start()

    def _pass_on(self, near: socket.socket, far: socket.socket) -> None:
        try:
            while not self.frozen.is_set():
                readable, _, _ = select.select([near, far], [], [], 0.05)
                if self.frozen.is_set():
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        near.close(), far.close()
                        return
                    (far if source is near else near).sendall(data)
        except (OSError, ValueError):
            return  # cut, or closed at the end of the test
