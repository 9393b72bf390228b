"""A real headless browser for the report page's tests, and what they read back from it.

Chromium (Debian's ``chromium-headless-shell`` or ``chromium``; ``$SPARK_UPSAMPLE_CHROMIUM`` names
another binary) runs once per call with a fresh profile, its background services off and the
network cut: no host name resolves, or with :func:`network_trap` all traffic goes to a proxy that
records it and answers nothing. :func:`dump_dom` is the DOM after the page loaded (scripts, were
any allowed, would have run), :func:`screenshot` a PNG of the viewport. :func:`png_pixels`
decodes a PNG with zlib, struct and numpy, and :func:`parse_dom` makes a small tree of the DOM.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

BINARIES = ("chromium-headless-shell", "chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND",)  # no name resolves: no network reachable


def chromium() -> str | None:
    """The headless Chromium binary to use, or None when there is none."""
    named = os.environ.get("SPARK_UPSAMPLE_CHROMIUM")
    if named:
        return shutil.which(named) or (named if os.access(named, os.X_OK) else None)
    return next((found for name in BINARIES if (found := shutil.which(name))), None)


def run_chromium(
    page: Path, *extra: str, network: Sequence[str] = OFFLINE, timeout: float = 90
) -> subprocess.CompletedProcess:
    """Run headless Chromium on the file ``page`` with ``extra`` flags, the network cut by the
    ``network`` flags; fails on a non-zero exit."""
    binary = chromium()
    assert binary, "no headless Chromium"
    with tempfile.TemporaryDirectory(prefix="spark-upsample-chromium-") as profile:
        args = [
            binary,
            *FLAGS,
            *network,
            f"--user-data-dir={profile}",
            *extra,
            page.resolve().as_uri(),
        ]
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def dump_dom(page: Path, network: Sequence[str] = OFFLINE) -> str:
    """The serialised DOM of ``page`` once loaded."""
    return run_chromium(page, "--dump-dom", network=network).stdout


def screenshot(
    page: Path, png: Path, size: tuple[int, int] = (1000, 1150), network: Sequence[str] = OFFLINE
) -> bytes:
    """A PNG of the first ``size`` (width, height) pixels of ``page``, also written to ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(
        page, f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}", network=network
    )
    return png.read_bytes()


@contextmanager
def network_trap() -> Iterator[tuple[list[bytes], tuple[str, ...]]]:
    """A proxy on 127.0.0.1 that answers nothing and records the first bytes of every request
    that reaches it; yields that record and the flags that send all of Chromium's traffic there
    (so the network is cut, and any attempt to use it shows)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # to look at `done` ten times a second
    seen: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    seen.append(connection.recv(4096))
                except OSError as error:
                    seen.append(repr(error).encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        yield seen, (f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>")
    finally:
        done.set()
        thread.join(timeout=10)
        server.close()


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of RGB(A) bytes of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, compressed = 8, b""
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            compressed += body
    raw, stride = zlib.decompress(compressed), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, up: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    if kind == 2:
        line[:] = ((np.frombuffer(line, np.uint8) + np.frombuffer(up, np.uint8)) & 0xFF).tobytes()
        return
    if kind == 1:  # each byte plus the decoded one a pixel left: a running sum per channel
        pixels = np.frombuffer(line, np.uint8).reshape(-1, bpp).astype(np.int64)
        line[:] = (np.cumsum(pixels, axis=0) & 0xFF).astype(np.uint8).tobytes()
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 3:
            line[i] = (line[i] + (left + up[i]) // 2) & 0xFF
        else:  # 4: Paeth
            corner = up[i - bpp] if i >= bpp else 0
            p = left + up[i] - corner
            pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
            guess = left if pa <= pb and pa <= pc else up[i] if pb <= pc else corner
            line[i] = (line[i] + guess) & 0xFF


def colours(data: bytes) -> dict[tuple[int, ...], int]:
    """How many pixels of the PNG ``data`` have each RGB colour."""
    width, height, rows = png_pixels(data)
    pixels = np.frombuffer(b"".join(rows), np.uint8).reshape(width * height, -1)[:, :3]
    packed = pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    values, counts = np.unique(packed, return_counts=True)
    return {
        (int(v) >> 16, (int(v) >> 8) & 0xFF, int(v) & 0xFF): int(n)
        for v, n in zip(values, counts, strict=True)
    }


VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}


@dataclass
class Node:
    """An element of the parsed DOM."""

    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        """The element's text, as the browser shows it (entities decoded)."""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def own_text(self) -> str:
        """The text directly in this element, not in its child elements."""
        return "".join(c for c in self.children if isinstance(c, str))

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag or '*'} class={cls}>"
        return found[0]

    def table(self) -> list[list[str]]:
        """The text of every cell of the rows of this table's body."""
        return [[td.text() for td in tr.find_all("td")] for tr in self.find("tbody").find_all("tr")]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: Sequence[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: Sequence[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_dom(html: str) -> Node:
    """A tree of the elements of a serialised DOM (as :func:`dump_dom` returns it)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root
