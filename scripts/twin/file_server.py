"""Serve a folder of taxi files over HTTP in the release layout.

``GET /<color>/<color>_tripdata_<YYYY>-<MM>.csv.gz`` returns the file; a missing month is a 404,
as on the real release server. A flat folder (files without the ``<color>/`` level, as people
often keep downloaded TLC files) is served under the same URLs.

Run as a script: ``python file_server.py --dir DIR --port PORT [--host 127.0.0.1]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import posixpath
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class TaxiFileHandler(SimpleHTTPRequestHandler):
    """Static files with a flat-folder fallback and plain-text 404s."""

    def translate_path(self, path: str) -> str:
        resolved = super().translate_path(path)
        if os.path.exists(resolved):
            return resolved
        flat = os.path.join(self.directory, posixpath.basename(unquote(urlsplit(path).path)))
        return flat if os.path.isfile(flat) else resolved

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code != 404:
            super().send_error(code, message, explain)
            return
        body = f"No such file on the twin's taxi file server: {self.path}\n".encode()
        self.send_response(404, "Not Found")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def guess_type(self, path: str) -> str:
        return "application/gzip" if str(path).endswith(".gz") else super().guess_type(path)


def serve(directory: str, port: int, host: str = "127.0.0.1") -> None:
    handler = functools.partial(TaxiFileHandler, directory=directory)
    with ThreadingHTTPServer((host, port), handler) as server:
        print(f"serving {directory} on http://{host}:{port}", flush=True)
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    serve(args.dir, args.port, args.host)


if __name__ == "__main__":
    main()
