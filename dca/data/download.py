"""Download, verify and safely unpack a dataset's archives (``dca data download``).

Downloads are resumable: data goes to ``<archive>.part`` and a later run continues it with an HTTP
``Range`` request (a server that ignores Range restarts it). Every archive is checked against its
SHA-256: the registry's, ``--sha256``, or the one recorded in ``OUT/SHA256SUMS`` by an earlier
download; with none known the first download's checksum is recorded there (verify-and-record), but
only once the archive has opened and unpacked whole (a plain tar must end with its end-of-archive marker) and
OUT holds the dataset's layout with at least the registry's case count, so a truncated body (a server that sends
no Content-Length, a tar cut at a member boundary) is never recorded. A mismatch is an error and the downloaded
file is deleted. A full disk while unpacking is a :class:`~dca.utils.io.DiskFullError` naming the disk and its
free space; the archive is kept.
Archives (zip, tar, tar.gz, ...) are unpacked into a temporary folder, refusing absolute paths,
``..`` and links, then merged into OUT: new files are moved in, files already there with the same
content are kept, files only in OUT (a user's notes) are never touched, and a file whose content
differs from the archive's stops the unpack before anything moves.
"""

from __future__ import annotations

import filecmp
import hashlib
import http.client
import io
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dca.data.registry import DatasetSpec
from dca.utils.io import DiskFullError, disk_full_errno, disk_full_error, staging_dir, write_text
from dca.utils.progress import Progress

CHUNK = 1 << 20
SUMS_FILE = "SHA256SUMS"
USER_AGENT = "dca-data/0.1 (research dataset download)"


class DamagedArchive(ValueError):
    """An archive that does not open or unpack (truncated, corrupt, or not an archive)."""


@dataclass(frozen=True)
class Fetched:
    """One archive obtained: where it is, its SHA-256, whether that was recorded now, what it unpacked to, and
    why a checksum nothing confirmed was not recorded (OUT does not look like the full release), if so."""

    name: str
    archive: Path
    sha256: str
    recorded: bool
    unpacked: tuple[Path, ...]
    not_recorded: str = ""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse | None:
    """Open ``url`` asking for bytes from ``offset`` on; None when the server says the range is past the end."""
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            return None
        raise ValueError(
            f"{url}: HTTP {err.code} {err.reason}; check the URL, or download the file by hand "
            "and pass --url-or-file PATH"
        ) from err
    except (urllib.error.URLError, OSError) as err:
        raise ValueError(
            f"{url}: cannot connect ({err}); check the URL and the network, or download the file by "
            "hand and pass --url-or-file PATH"
        ) from err


def _receive(response: http.client.HTTPResponse, part: Path, append: bool, url: str) -> None:
    """Write the response body to ``part`` (appending when resuming); a short body keeps the part and raises."""
    length = response.headers.get("Content-Length")
    start = part.stat().st_size if append and part.exists() else 0
    total = start + int(length) if length is not None else None
    with (
        open(part, "ab" if append else "wb") as f,
        Progress(total, part.name[: -len(".part")], "B", True, initial=start) as bar,
    ):
        received = 0
        try:
            while block := response.read(CHUNK):
                f.write(block)
                received += len(block)
                bar.update(len(block))
            if length is not None and received < int(length):
                raise ConnectionError(f"received {received} of {length} bytes")
        except (OSError, http.client.HTTPException) as err:
            code = disk_full_errno(err)
            if code is not None:
                raise disk_full_error(part, code) from err
            raise ValueError(
                f"{url}: the download broke off ({err}); {part} keeps {f.tell()} bytes: "
                "run the same command again to resume"
            ) from err


def fetch(url: str, dest: Path, sha256: str | None = None, timeout: float = 60.0, hint: str = "") -> str:
    """Download ``url`` to ``dest`` through a resumable ``dest.part`` and verify it; returns its SHA-256.

    With ``sha256`` given, a mismatch deletes the download and raises ValueError (``hint`` says where the
    expected value came from and how to clear it).
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset, timeout)
    if response is not None:
        with response:
            content_range = response.headers.get("Content-Range", "")
            resumed = bool(offset) and response.status == 206 and content_range.startswith(f"bytes {offset}-")
            _receive(response, part, resumed, url)
    actual = sha256_of(part)
    if sha256 is not None and actual != sha256:
        part.unlink()
        raise ValueError(
            f"{dest.name}: SHA-256 mismatch (expected {sha256}, got {actual}) for {url}; the download was deleted. "
            + (
                hint
                or "Try again; if the upstream archive really changed, check it and pass --sha256 with the new value"
            )
        )
    part.replace(dest)
    return actual


def _member(name: str, archive: Path) -> PurePosixPath:
    """A member path checked to stay inside the target folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ValueError(
            f"{archive}: member {name!r} would be written outside the target folder (absolute path or '..'); "
            "the archive is unsafe and was not unpacked"
        )
    return path


def _unzip(archive: Path, into: Path) -> None:
    """Check every zip member, then extract all but ``__MACOSX`` junk."""
    with zipfile.ZipFile(archive) as zf:
        members = []
        for info in zf.infolist():
            path = _member(info.filename, archive)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ValueError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to unpack")
            if path.parts and path.parts[0] != "__MACOSX":
                members.append(info)
        for info in members:
            zf.extract(info, into)


def _untar(archive: Path, into: Path) -> None:
    """Check every tar member (no links or devices), then extract with the ``data`` filter."""
    with tarfile.open(archive) as tf:
        members = []
        for info in tf.getmembers():
            path = _member(info.name, archive)
            if not (info.isfile() or info.isdir()):
                raise ValueError(f"{archive}: member {info.name!r} is a link or special file; refusing to unpack")
            if path.parts and path.parts[0] != "__MACOSX":
                members.append(info)
        _check_tar_end(tf, archive)
        tf.extractall(into, members=members, filter="data")


def _check_tar_end(tf: tarfile.TarFile, archive: Path) -> None:
    """Refuse a plain tar without its end-of-archive marker (two zero blocks after the last member): cut at a
    member boundary, it would read as a complete, smaller archive (a compressed tar cut short fails to decompress)."""
    if not isinstance(tf.fileobj, io.BufferedReader):
        return
    tf.fileobj.seek(tf.offset)
    if tf.fileobj.read(2 * tarfile.BLOCKSIZE) != bytes(2 * tarfile.BLOCKSIZE):
        last = tf.getmembers()[-1].name if tf.getmembers() else "none"
        raise DamagedArchive(
            f"{archive}: the archive is damaged (cut short: no end-of-archive marker after its last member, {last!r}); "
            "delete it and download it again"
        )


def _conflicts(new: Path, old: Path) -> list[str]:
    """Paths under ``old`` that merging ``new`` into it would overwrite with different content."""
    if not (old.exists() or old.is_symlink()):
        return []
    if new.is_dir() and old.is_dir() and not old.is_symlink():
        return [c for entry in sorted(new.iterdir()) for c in _conflicts(entry, old / entry.name)]
    if new.is_file() and old.is_file() and not old.is_symlink() and filecmp.cmp(new, old, shallow=False):
        return []
    return [str(old)]


def _merge(new: Path, old: Path) -> None:
    """Move ``new`` into ``old``: absent entries are moved, equal files are left as they are (checked first)."""
    if not (old.exists() or old.is_symlink()):
        new.rename(old)
    elif new.is_dir():
        for entry in sorted(new.iterdir()):
            _merge(entry, old / entry.name)


def unpack(archive: Path, dest: Path) -> tuple[Path, ...]:
    """Safely unpack a zip or tar archive into ``dest``, merged with what is there; returns the top-level entries.

    Nothing in ``dest`` is deleted or overwritten: a file the archive holds with different content is a
    ValueError naming it (before anything is moved); stale staging folders of killed unpacks are removed. A full
    disk is a :class:`DiskFullError` naming ``dest`` and its free space (the archive is not blamed).
    """
    dest.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(dest, f"unpack-{archive.name}")
    try:
        try:
            if zipfile.is_zipfile(archive):
                _unzip(archive, staging)
            elif tarfile.is_tarfile(archive):
                _untar(archive, staging)
            else:
                raise DamagedArchive(f"{archive}: not a zip or tar archive; download it again or unpack it by hand")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
            code = disk_full_errno(err)
            if code is not None:
                raise _unpack_disk_full(archive, dest, code) from err
            raise DamagedArchive(f"{archive}: the archive is damaged ({err}); delete it and download it again") from err
        entries = sorted(staging.iterdir())
        conflicts = [c for entry in entries for c in _conflicts(entry, dest / entry.name)]
        if conflicts:
            shown = ", ".join(conflicts[:3]) + (f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else "")
            raise ValueError(
                f"{archive}: unpacking would overwrite {len(conflicts)} file(s) in {dest} whose content differs "
                f"from the archive's ({shown}); nothing was changed. Move them (or their folder) elsewhere, "
                "or unpack into another --out"
            )
        for entry in entries:
            _merge(entry, dest / entry.name)
        return tuple(dest / entry.name for entry in entries)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack_disk_full(archive: Path, dest: Path, code: int) -> DiskFullError:
    """The error for ``archive`` not unpacked into ``dest`` for lack of space: the disk, its free MiB, what to do."""
    free = shutil.disk_usage(dest).free / 2**20
    return DiskFullError(
        code,
        f"cannot unpack {archive} into {dest}: {os.strerror(code)} ({free:.1f} MiB free on {dest}); nothing was "
        f"unpacked and {archive.name} is kept (it is not damaged). Free some space and run the same command again",
    )


def read_sums(folder: Path) -> dict[str, str]:
    """Checksums recorded in ``folder/SHA256SUMS`` (sha256sum format) by earlier downloads."""
    path = folder / SUMS_FILE
    if not path.is_file():
        return {}
    pairs = (line.split(None, 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {name.strip().lstrip("*"): digest for digest, name in pairs}


def _record(folder: Path, name: str, digest: str) -> None:
    """Add or update ``name`` in ``folder/SHA256SUMS``."""
    sums = {**read_sums(folder), name: digest}
    write_text(folder / SUMS_FILE, "".join(f"{d}  {n}\n" for n, d in sorted(sums.items())))


def _name_of(location: str) -> str:
    """File name of a URL or path."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(location).path)).name
    if not name:
        raise ValueError(f"{location}: cannot tell the archive's file name from it; give a URL ending in the file name")
    return name


def _plan(spec: DatasetSpec, out: Path, sources: list[str] | None) -> list[tuple[str, str]]:
    """(location, archive name) to obtain: given URLs/files, the registry URLs, or manual archives found in OUT.

    A manual dataset with neither its archives nor its unpacked layout in OUT is an error saying how to get it.
    """
    if spec.source.kind == "synthetic":
        raise ValueError(f"dataset {spec.name!r} is generated, not downloaded: {spec.source.steps}")
    if sources:
        return [(s, _name_of(s) if "://" in s else Path(s).name) for s in sources]
    if spec.source.kind == "url":
        return [(a.url or "", a.name) for a in spec.source.archives]
    present = [(str(out / a.name), a.name) for a in spec.source.archives if (out / a.name).is_file()]
    if present:
        return present
    from dca.data.convert import find_layout

    try:
        find_layout(spec, out)
    except (ValueError, FileNotFoundError):
        raise spec.missing(out) from None
    return []


def download(
    spec: DatasetSpec, out: Path, sources: list[str] | None = None, sha256: str | None = None
) -> list[Fetched]:
    """Obtain, verify and unpack the archives of ``spec`` into ``out``.

    ``sources`` (URLs or local files) replace the registry's; ``sha256`` pins the checksum of a single archive.
    Checksums nothing confirmed are recorded once all archives are unpacked, and only if ``out`` then holds the
    full release (:func:`incomplete_release`).
    """
    out, sha256 = Path(out), sha256.lower() if sha256 else None
    plan = _plan(spec, out, sources)
    if sha256 is not None and len(plan) != 1:
        raise ValueError(f"--sha256 pins one archive, but {len(plan)} are to be fetched; fetch them one at a time")
    known = {a.name: a.sha256 for a in spec.source.archives if a.sha256}
    recorded_before = read_sums(out)
    unpacked_all: list[tuple[str, Path, str, bool, tuple[Path, ...]]] = []
    for location, name in plan:
        expected = sha256 or known.get(name) or recorded_before.get(name)
        hint = _clear_hint(out, name) if expected is not None and expected == recorded_before.get(name) else ""
        is_url = "://" in location
        archive = out / name if is_url else Path(location)
        downloaded_now = is_url and not archive.is_file()
        if downloaded_now:
            actual = fetch(location, archive, expected, hint=hint)
        elif not archive.is_file():
            raise FileNotFoundError(f"{archive}: no such file; give the path of the downloaded {name}")
        else:
            actual = sha256_of(archive)
            if expected is not None and actual != expected:
                if is_url:
                    archive.unlink()
                raise ValueError(
                    f"{archive}: SHA-256 mismatch (expected {expected}, got {actual}); the file is damaged or not "
                    f"the expected release{' and was deleted' if is_url else ''}: " + (hint or "download it again")
                )
        try:
            unpacked = unpack(archive, out)
        except DamagedArchive as err:
            if not downloaded_now:
                raise
            archive.unlink()
            raise DamagedArchive(
                f"{err}; the download was deleted (nothing recorded): run the same command again"
            ) from err
        unpacked_all.append((name, archive, actual, expected is None and actual not in known.values(), unpacked))
    why = incomplete_release(spec, out) if any(item[3] for item in unpacked_all) else ""
    fetched = []
    for name, archive, actual, unconfirmed, unpacked in unpacked_all:
        if unconfirmed and not why:
            _record(out, name, actual)
        fetched.append(Fetched(name, archive, actual, unconfirmed and not why, unpacked, why if unconfirmed else ""))
    return fetched


def incomplete_release(spec: DatasetSpec, out: Path) -> str:
    """Why ``out`` does not hold the full release of ``spec`` (no layout of the dataset, an image without its
    mask, fewer cases than the registry counts), or "" when it does: a cut archive is never the reference."""
    from dca.data.convert import find_layout, layout_module

    try:
        layout, root = find_layout(spec, out)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # masks without an image: ``dca data prepare`` reports them
            found = len(layout_module(layout).cases(root, spec))
    except (ValueError, FileNotFoundError) as err:
        return str(err).splitlines()[0]
    if spec.cases is not None and found < spec.cases:
        return f"the {layout} layout at {root} holds {found} cases, the full release {spec.cases}"
    return ""


def _clear_hint(out: Path, name: str) -> str:
    """How to clear a checksum recorded by an earlier download that may itself have been wrong."""
    return (
        f"the expected value was recorded in {out / SUMS_FILE} by an earlier download of {name}; if that one was "
        f"broken (truncated), delete the line for {name} from {out / SUMS_FILE} (or pass --sha256 with the right "
        "value) and run the same command again"
    )
