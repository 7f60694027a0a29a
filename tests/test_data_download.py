"""``zslbench data download``: against a local HTTP server on 127.0.0.1 only (no other address)."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import make_toy_xlsa17
from zslbench.data.cli import main
from zslbench.data.download import DownloadError, download_xlsa17, unpack_xlsa17
from zslbench.data.verify import verify_root


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes); honours ``Range: bytes=N-`` unless told not to."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        rng = self.headers.get("Range")
        if rng and server.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.honour_range = {}, [], True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _official_style_zip(tmp_path: Path) -> bytes:
    """A zip nested like the official bundle: xlsa17/data/<NAME>/..., plus a README."""
    src = make_toy_xlsa17(tmp_path / "src", name="TOY")
    make_toy_xlsa17(src, name="TOY2", n_classes=5, n_unseen=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xlsa17/README.txt", "proposed splits")
        zf.writestr("xlsa17/data/", "")
        for name in ("TOY", "TOY2"):
            for f in sorted((src / name).iterdir()):
                zf.write(f, f"xlsa17/data/{name}/{f.name}")
    return buf.getvalue()


def test_full_download_unpack_verify(tmp_path, server, capsys):
    body = _official_style_zip(tmp_path)
    server.files["/xlsa17.zip"] = body
    dest = tmp_path / "data"
    code = main(["download", "xlsa17", "--to", str(dest), "--url", server.url + "/xlsa17.zip"])
    assert code == 0
    out = capsys.readouterr().out
    digest = hashlib.sha256(body).hexdigest()
    assert f"sha256 {digest}: NOT verified" in out and "Summary: 2 of 2 dataset folder(s) OK" in out
    assert (dest / "TOY" / "res101.mat").is_file() and (dest / "TOY2" / "att_splits.mat").is_file()
    assert not (dest / "xlsa17").exists() and not (dest / "xlsa17.zip").exists()
    assert not (dest / "xlsa17.zip.part").exists()
    assert verify_root(dest).ok
    assert server.requests == [{"path": "/xlsa17.zip", "range": None}]


def test_matching_checksum_is_verified_and_archive_kept(tmp_path, server):
    body = _official_style_zip(tmp_path)
    server.files["/x.zip"] = body
    result = download_xlsa17(tmp_path / "d", url=server.url + "/x.zip", sha256=hashlib.sha256(body).hexdigest(),
                             keep_archive=True, progress=False)
    assert result.verified and result.datasets == ["TOY", "TOY2"] and result.resumed_from == 0
    assert result.archive == tmp_path / "d" / "xlsa17.zip" and result.archive.read_bytes() == body


def test_resume_from_partial_file(tmp_path, server):
    body = _official_style_zip(tmp_path)
    server.files["/xlsa17.zip"] = body
    dest = tmp_path / "data"
    dest.mkdir()
    cut = len(body) // 3
    (dest / "xlsa17.zip.part").write_bytes(body[:cut])
    result = download_xlsa17(dest, url=server.url + "/xlsa17.zip", progress=False,
                             sha256=hashlib.sha256(body).hexdigest())
    assert server.requests == [{"path": "/xlsa17.zip", "range": f"bytes={cut}-"}]
    assert result.resumed_from == cut and result.verified
    assert verify_root(dest).ok


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    body = _official_style_zip(tmp_path)
    server.files["/xlsa17.zip"] = body
    server.honour_range = False
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "xlsa17.zip.part").write_bytes(body[:100])
    result = download_xlsa17(dest, url=server.url + "/xlsa17.zip", progress=False,
                             sha256=hashlib.sha256(body).hexdigest())
    assert server.requests[0]["range"] == "bytes=100-"
    assert result.resumed_from == 0 and result.verified


def test_checksum_mismatch(tmp_path, server, capsys):
    body = _official_style_zip(tmp_path)
    server.files["/xlsa17.zip"] = body
    dest = tmp_path / "data"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        download_xlsa17(dest, url=server.url + "/xlsa17.zip", sha256=wrong, progress=False)
    msg = str(info.value)
    assert "sha256 mismatch" in msg and wrong in msg and hashlib.sha256(body).hexdigest() in msg
    assert "deleted" in msg
    assert not (dest / "xlsa17.zip.part").exists() and not (dest / "xlsa17.zip").exists()
    assert not (dest / "TOY").exists()
    code = main(["download", "xlsa17", "--to", str(dest), "--url", server.url + "/xlsa17.zip", "--sha256", wrong])
    assert code == 1 and "sha256 mismatch" in capsys.readouterr().err


def test_http_404(tmp_path, server, capsys):
    with pytest.raises(DownloadError, match=r"/missing\.zip: HTTP error 404"):
        download_xlsa17(tmp_path / "d", url=server.url + "/missing.zip", progress=False)
    code = main(["download", "xlsa17", "--to", str(tmp_path / "d"), "--url", server.url + "/missing.zip"])
    assert code == 1 and "HTTP error 404" in capsys.readouterr().err


def test_not_a_zip(tmp_path, server):
    server.files["/xlsa17.zip"] = b"<html>maintenance</html>"
    dest = tmp_path / "d"
    with pytest.raises(DownloadError, match=r"xlsa17\.zip: not a valid zip archive"):
        download_xlsa17(dest, url=server.url + "/xlsa17.zip", progress=False)
    assert not (dest / "xlsa17.zip").exists()


def test_mirror_from_environment(tmp_path, server, monkeypatch):
    server.files["/mirror/xlsa17.zip"] = _official_style_zip(tmp_path)
    monkeypatch.setenv("ZSLBENCH_MIRROR", server.url + "/mirror/xlsa17.zip")
    result = download_xlsa17(tmp_path / "d", progress=False)
    assert result.url == server.url + "/mirror/xlsa17.zip" and result.datasets == ["TOY", "TOY2"]


def test_unsafe_member_paths_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape/att_splits.mat", b"x")
    with pytest.raises(DownloadError, match="unsafe member path"):
        unpack_xlsa17(archive, tmp_path / "out")
    assert not (tmp_path / "escape").exists()
