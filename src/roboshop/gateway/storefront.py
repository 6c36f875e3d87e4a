"""The storefront's static files, with the SPA fallback.

A path that is not a file under ``web_root`` serves ``index.html`` (the browser app routes it, e.g. a reload
of ``/product/Watson``). Validators are ``ETag`` and ``Last-Modified`` from the file's stat, so a browser's
conditional request gets 304. A path is decoded by the server already; one with NUL, a backslash or a ``..``
segment is refused, and the resolved file must lie inside the (resolved) root, which also stops symlinks out.

Small files are kept in memory, checked against their stat on every request, so a changed file is
served fresh without a restart; large ones are streamed from disk.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from roboshop.gateway.exchange import Exchange

STATIC_LABEL = "<static>"
_ALLOW = [(b"allow", b"GET, HEAD")]
_CACHED_FILE_LIMIT = 512 * 1024
_CACHE_TOTAL_LIMIT = 32 * 1024 * 1024
_CHUNK = 256 * 1024
_NO_CACHE = b"no-cache"
_REVALIDATE_LATER = b"public, max-age=300"
# Fixed types for the web's own formats: the host's mime database differs between machines.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
}


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    size: int
    mtime: float
    mtime_ns: int


def content_type(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    known = _TYPES.get(extension)
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


class Storefront:
    def __init__(self, web_root: Path) -> None:
        root = web_root.resolve()
        if not root.is_dir():
            raise ValueError(f"web_root {web_root} is not a directory")
        self.root = str(root)
        self._inside = self.root.rstrip(os.sep) + os.sep
        self._cache: dict[str, tuple[int, int, bytes]] = {}
        self._cached_bytes = 0

    async def __call__(self, ex: Exchange) -> None:
        ex.label = STATIC_LABEL
        if ex.method != "GET" and ex.method != "HEAD":
            await ex.problem(405, "the storefront serves GET and HEAD only", _ALLOW)
            return
        path: str = ex.scope["path"]
        if "\x00" in path or "\\" in path or "/../" in path + "/" or "/./" in path + "/":
            await ex.problem(400, "invalid path")
            return
        found = self._lookup(path)
        cache_control = _NO_CACHE
        if found is None:
            found = self._lookup("/index.html")
            if found is None:
                await ex.problem(404, f"no file at {path[:200]} and no index.html to fall back to")
                return
        elif not found.path.endswith(".html"):
            cache_control = _REVALIDATE_LATER
        await self._send(ex, found, cache_control)

    def _lookup(self, path: str) -> _File | None:
        """The regular file ``path`` names inside the root (a directory means its index.html)."""
        if "/." in path:  # hidden files (.git, .env) are never served
            return None
        real = os.path.realpath(self.root + path)
        if not real.startswith(self._inside) and real != self.root:
            return None
        try:
            info = os.stat(real)
            if stat.S_ISDIR(info.st_mode):
                real = os.path.join(real, "index.html")
                info = os.stat(real)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return _File(real, info.st_size, info.st_mtime, info.st_mtime_ns)

    async def _send(self, ex: Exchange, file: _File, cache_control: bytes) -> None:
        etag = f'"{file.mtime_ns:x}-{file.size:x}"'.encode()
        headers = [
            (b"content-type", content_type(file.path).encode()),
            (b"etag", etag),
            (b"last-modified", formatdate(file.mtime, usegmt=True).encode()),
            (b"cache-control", cache_control),
            (b"x-content-type-options", b"nosniff"),
        ]
        if _not_modified(ex, etag, int(file.mtime)):
            await ex.start_response(304, headers)
            await ex.send({"type": "http.response.body", "body": b""})
            return
        if ex.method == "HEAD":
            headers.append((b"content-length", str(file.size).encode()))
            await ex.start_response(200, headers)
            await ex.send({"type": "http.response.body", "body": b""})
            return
        if file.size <= _CACHED_FILE_LIMIT:
            await ex.respond(200, await self._small_file(file), headers)
            return
        await self._stream(ex, file, headers)

    async def _small_file(self, file: _File) -> bytes:
        cached = self._cache.get(file.path)
        if cached is not None and cached[0] == file.mtime_ns and cached[1] == file.size:
            return cached[2]
        content = await asyncio.to_thread(Path(file.path).read_bytes)
        if len(content) == file.size and self._cached_bytes + len(content) <= _CACHE_TOTAL_LIMIT:
            previous = self._cache.pop(file.path, None)
            self._cached_bytes += len(content) - (len(previous[2]) if previous else 0)
            self._cache[file.path] = (file.mtime_ns, file.size, content)
        return content

    async def _stream(self, ex: Exchange, file: _File, headers: list[tuple[bytes, bytes]]) -> None:
        handle = await asyncio.to_thread(open, file.path, "rb")
        try:
            # Content-Length comes from the stat: if the file shrinks meanwhile, the response stays short
            # and the server closes the connection, so the client cannot mistake it for the whole file.
            headers.append((b"content-length", str(file.size).encode()))
            await ex.start_response(200, headers)
            remaining = file.size
            while remaining > 0:
                chunk = await asyncio.to_thread(handle.read, min(_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                await ex.send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        finally:
            handle.close()


def _not_modified(ex: Exchange, etag: bytes, mtime: int) -> bool:
    if_none_match: bytes | None = None
    if_modified_since: bytes | None = None
    for name, value in ex.scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value
        elif name == b"if-modified-since":
            if_modified_since = value
    if if_none_match is not None:
        # Weak comparison (RFC 9110 section 13.1.2): W/ prefixes do not matter for GET and HEAD.
        tags = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
        return etag in tags or b"*" in tags
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since.decode("latin-1"))
        except (TypeError, ValueError):
            return False
        return mtime <= since.timestamp()
    return False
