"""``zslbench data download xlsa17 --to DIR``: fetch, check and unpack the xlsa17 bundle.

Steps:

1. stream the zip (official :data:`OFFICIAL_URL`; ``--url`` or $ZSLBENCH_MIRROR for a mirror) to
   ``DIR/xlsa17.zip.part`` with a tqdm progress bar (urllib only). A ``.part`` left by an interrupted
   download is resumed with an HTTP ``Range`` request; a server that ignores Range (HTTP 200) makes it
   start over.
2. sha256 of the complete file. There is no pinned official checksum: without ``--sha256`` the computed
   one is printed and reported as NOT verified. With ``--sha256``, a mismatch is an error and **the
   downloaded file is deleted** (resuming from a corrupt file could only give another corrupt file; the
   message shows both hashes so a mistyped expected hash is easy to spot).
3. the ``.part`` becomes ``DIR/xlsa17.zip``, which is unpacked: the official zip nests
   ``xlsa17/data/<NAME>/``; every folder of the archive holding ``att_splits.mat`` or ``res101.mat`` is
   placed at ``DIR/<NAME>/``. A file that is not a valid zip is deleted with an error (it is usually an
   HTML error page). Members with absolute paths or ``..`` are refused. The archive is removed after a
   successful unpack unless ``keep_archive``.
4. the caller (the CLI) runs :func:`zslbench.data.verify.verify_root` on the unpacked folders.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

OFFICIAL_URL = "http://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip"
MIRROR_ENV = "ZSLBENCH_MIRROR"
ARCHIVE_NAME = "xlsa17.zip"
OFFICIAL_SHA256: str | None = None
"""No checksum of the official bundle is pinned: we never had one from a trusted source."""
DATASET_MARKERS = ("att_splits.mat", "res101.mat")


class DownloadError(RuntimeError):
    """A download, checksum or unpacking failure; the message says what and where."""


@dataclass
class DownloadResult:
    """What :func:`download_xlsa17` did.

    Attributes:
        url: where the archive came from.
        sha256: computed hex sha256 of the archive.
        verified: True only when an expected sha256 was given and matched.
        resumed_from: bytes already present in a ``.part`` file when the download started (0: fresh).
        datasets: dataset folders unpacked under the destination.
        archive: the kept archive, or None when it was removed.
    """

    url: str
    sha256: str
    verified: bool
    resumed_from: int
    datasets: list[str] = field(default_factory=list)
    archive: Path | None = None


def resolve_url(url: str | None) -> str:
    """``url`` if given, else $ZSLBENCH_MIRROR, else the official URL."""
    return url or os.environ.get(MIRROR_ENV, "").strip() or OFFICIAL_URL


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _normalise_sha(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", v):
        raise DownloadError(f"--sha256 {value!r}: not a sha256 (64 hexadecimal characters)")
    return v


def fetch(
    url: str,
    target: Path,
    *,
    expected_sha256: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
    chunk: int = 1 << 20,
) -> tuple[str, int]:
    """Download ``url`` to ``target`` via ``target.part``, resuming a partial file; check its sha256.

    Returns:
        (hex sha256 of the file, bytes that were already present and resumed from).

    Raises:
        DownloadError: HTTP error, connection failure (the ``.part`` is kept to resume), checksum
            mismatch (the file is deleted).
    """
    from tqdm.auto import tqdm

    from zslbench import __version__

    expected = _normalise_sha(expected_sha256)
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    resumed_from = offset
    request = urllib.request.Request(url, headers={"User-Agent": f"zslbench/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        log.info("resuming %s from byte %d", part, offset)
    complete = False
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the .part may already hold the whole file
            total = _content_range_total(exc.headers.get("Content-Range", ""))
            if total is not None and total == offset:
                complete = True
                response = None
            else:
                part.unlink()
                raise DownloadError(
                    f"{url}: the server refused to resume {part} ({offset} bytes; server size "
                    f"{total if total is not None else 'unknown'}); the partial file was removed, run again"
                ) from None
        else:
            raise DownloadError(f"{url}: HTTP error {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: cannot connect ({exc.reason})") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{url}: cannot download ({type(exc).__name__}: {exc})") from None

    if not complete:
        assert response is not None
        with response:
            status = getattr(response, "status", 200)
            mode = "ab"
            if offset and status == 200:
                log.warning("%s ignored the Range request: downloading from the start", url)
                offset, resumed_from, mode = 0, 0, "wb"
            elif status == 206:
                start = _content_range_start(response.headers.get("Content-Range", ""))
                if start != offset:
                    raise DownloadError(f"{url}: asked to resume at byte {offset}, the server sent byte {start}")
            elif not offset:
                mode = "wb"
            length = response.headers.get("Content-Length")
            expected_len = int(length) if length and length.isdigit() else None
            received = 0
            try:
                with open(part, mode) as fh, tqdm(
                    total=offset + expected_len if expected_len is not None else None, initial=offset,
                    unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                    disable=None if progress else True,
                ) as bar:
                    while block := response.read(chunk):
                        fh.write(block)
                        received += len(block)
                        bar.update(len(block))
            except (OSError, TimeoutError) as exc:
                raise DownloadError(
                    f"{url}: download interrupted after {offset + received} bytes ({exc}); {part} is kept: "
                    "run the same command again to resume"
                ) from None
            if expected_len is not None and received < expected_len:
                raise DownloadError(
                    f"{url}: connection closed after {offset + received} of {offset + expected_len} bytes; "
                    f"{part} is kept: run the same command again to resume"
                )

    digest = sha256_of(part)
    if expected is not None and digest != expected:
        part.unlink()
        raise DownloadError(
            f"{url}: sha256 mismatch: expected {expected}, got {digest}; the downloaded file was deleted "
            "(check the --sha256 value, or the mirror)"
        )
    part.replace(target)
    return digest, resumed_from


def _content_range_total(value: str) -> int | None:
    m = re.search(r"/(\d+)\s*$", value or "")
    return int(m.group(1)) if m else None


def _content_range_start(value: str) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", value or "")
    return int(m.group(1)) if m else None


def unpack_xlsa17(archive: Path, dest: Path) -> list[str]:
    """Unpack the dataset folders of an xlsa17 zip to ``dest/<NAME>/``; returns the names.

    Raises:
        DownloadError: not a zip (the file is deleted), unsafe member paths, no dataset folder in it.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        archive.unlink(missing_ok=True)
        raise DownloadError(
            f"{archive}: not a valid zip archive ({exc}); the file was deleted (a server error page?)"
        ) from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        for m in members:
            p = PurePosixPath(m.filename)
            if p.is_absolute() or ".." in p.parts or "\\" in m.filename:
                raise DownloadError(f"{archive}: refusing unsafe member path {m.filename!r}")
        useful = [m for m in members if not m.filename.startswith("__MACOSX/") and not PurePosixPath(m.filename).name.startswith("._")]
        dirs = sorted({PurePosixPath(m.filename).parent for m in useful if PurePosixPath(m.filename).name in DATASET_MARKERS})
        if not dirs:
            raise DownloadError(f"{archive}: no dataset folder (with att_splits.mat or res101.mat) in the archive")
        names = [d.name for d in dirs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise DownloadError(f"{archive}: several folders named {sorted(dupes)[0]!r} in the archive")
        dest.mkdir(parents=True, exist_ok=True)
        for m in useful:
            p = PurePosixPath(m.filename)
            if p.parent not in dirs:
                continue
            out = dest / p.parent.name / p.name
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".unpacking")
            try:
                with zf.open(m) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                tmp.unlink(missing_ok=True)
                raise DownloadError(f"{archive}: member {m.filename!r} is corrupt ({exc})") from None
            tmp.replace(out)
    return names


def download_xlsa17(
    dest: str | os.PathLike[str],
    *,
    url: str | None = None,
    sha256: str | None = None,
    keep_archive: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> DownloadResult:
    """Download (resuming), check and unpack the xlsa17 bundle into ``dest/<NAME>/``.

    Args:
        dest: the data root to create or fill.
        url: a mirror (default $ZSLBENCH_MIRROR, else :data:`OFFICIAL_URL`).
        sha256: expected hex sha256 of the zip; None: not verified (the result says so).
        keep_archive: keep ``dest/xlsa17.zip`` after unpacking.
        progress: show a progress bar (on a terminal).
        timeout: socket timeout in seconds.
    """
    dest = Path(dest).expanduser()
    source = resolve_url(url)
    expected = _normalise_sha(sha256) or (OFFICIAL_SHA256 if source == OFFICIAL_URL else None)
    archive = dest / ARCHIVE_NAME
    if archive.is_file():
        digest = sha256_of(archive)
        if expected is not None and digest != expected:
            log.warning("%s has sha256 %s, expected %s: downloading again", archive, digest, expected)
            archive.unlink()
            digest, resumed = fetch(source, archive, expected_sha256=expected, timeout=timeout, progress=progress)
        else:
            log.info("using the existing %s", archive)
            resumed = archive.stat().st_size
    else:
        digest, resumed = fetch(source, archive, expected_sha256=expected, timeout=timeout, progress=progress)
    names = unpack_xlsa17(archive, dest)
    kept: Path | None = archive
    if not keep_archive:
        archive.unlink()
        kept = None
    return DownloadResult(url=source, sha256=digest, verified=expected is not None, resumed_from=resumed,
                          datasets=names, archive=kept)
