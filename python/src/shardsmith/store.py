"""Versions on an object store (s3://BUCKET/PREFIX/DATASET[/VERSION]), read
through the local shard cache that the Go tools use (formats/dataset,
internal/store).

A location is parsed as the Go store.Parse parses it: a local path,
file:///PATH or s3://BUCKET[/PREFIX][?OPTIONS]; any other scheme is refused
naming those, and so are credentials in the URL. A version is found through
a dataset prefix's latest object and exists only once its manifest.json is
there (the commit point of a build). Each shard is downloaded once into the
cache directory ($XDG_CACHE_HOME/shardsmith/shards by default, as the Go
cache), under a temporary name, and renamed to its SHA-256 plus the shard's
extension only after its size and SHA-256 matched the manifest; a file found
there from an earlier process is hashed again before it is used. The cache
is bounded: the least recently used files that the opened version does not
need are removed. The version is then read from the local files by the same
reader as a local one.

Credentials, region and endpoint come the standard AWS way (the
environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3; then the
shared ~/.aws files), through pyarrow.fs.S3FileSystem. With an endpoint of
its own a server is addressed path-style, as S3-compatible servers expect.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import posixpath
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from .manifest import FILE_NAME, LATEST_NAME, Manifest, ManifestError, parse

SUPPORTED = "a local path, file:///PATH or s3://BUCKET/PREFIX"
DEFAULT_CACHE_MB = 2048  # as the trainer's --shard-cache-mb
_QUERY = ("region", "endpoint", "disable_https", "use_path_style", "s3ForcePathStyle")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
# a scheme written with one slash or none (s3:/bucket, s3:bucket): a typo, not a local path
_LOOKS_LIKE_URL = re.compile(r"^(?i:s3|gs|azblob|http|https|file|mem|ftp|hdfs|abfs|abfss|wasb|wasbs|minio):")
_CHUNK = 8 << 20


@dataclass(frozen=True)
class Location:
    """A parsed location: path for a local one, else bucket, key (no leading
    or trailing slash) and query."""

    path: str = ""
    bucket: str = ""
    key: str = ""
    query: str = ""

    @property
    def local(self) -> bool:
        return self.bucket == ""

    def __str__(self):
        if self.local:
            return self.path
        s = "s3://" + self.bucket + ("/" + self.key if self.key else "")
        return s + ("?" + self.query if self.query else "")

    def join(self, *elems: str) -> "Location":
        return Location(bucket=self.bucket, key=posixpath.join(self.key, *elems).strip("/"), query=self.query)

    @property
    def base(self) -> str:
        return posixpath.basename("/" + self.key)

    @property
    def parent(self) -> "Location":
        return Location(bucket=self.bucket, key=posixpath.dirname("/" + self.key).strip("/"), query=self.query)

    @property
    def fs_path(self) -> str:
        """The path pyarrow's S3FileSystem takes: BUCKET/KEY."""
        return self.bucket + ("/" + self.key if self.key else "")


def parse_location(s) -> Location:
    """Parses a location as the Go store.Parse does."""
    s = os.fspath(s)
    if s == "":
        raise ValueError(f"empty location: give {SUPPORTED}")
    m = _SCHEME.match(s)
    if m is None:
        if _LOOKS_LIKE_URL.match(s):
            raise ValueError(f'"{s}" looks like a URL without "//"; supported: {SUPPORTED}')
        return Location(path=s)
    scheme = m.group(1).lower()
    try:
        u = urlsplit(s)
        host, user = u.hostname or "", u.username is not None or u.password is not None
    except ValueError as e:
        raise ValueError(f'location "{s}": {e}') from None
    if scheme == "file":
        if host not in ("", "localhost") or user:
            raise ValueError(f'location "{s}": a file URL names a local path (file:///PATH), not host "{u.netloc}"')
        if u.query:
            raise ValueError(f'location "{s}": a file URL takes no query')
        if not u.path:
            raise ValueError(f'location "{s}": no path')
        return Location(path=u.path)
    if scheme != "s3":
        raise ValueError(f'unsupported location scheme "{scheme}" in "{s}"; supported: {SUPPORTED}')
    if user:
        bare = f"s3://{u.netloc.rpartition('@')[2]}{u.path}" + (f"?{u.query}" if u.query else "")
        raise ValueError(f'location "{bare}": credentials do not belong in the URL; '
                         "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    bucket = u.netloc
    if not bucket:
        raise ValueError(f'location "{s}": no bucket (expected s3://BUCKET/PREFIX)')
    key = u.path.strip("/")
    if key and key != posixpath.normpath("/" + key)[1:] or "//" in key:
        raise ValueError(f'location "{s}": key "{key}" is not clean (no empty, . or .. elements)')
    for k in parse_qs(u.query, keep_blank_values=True):
        if k not in _QUERY:
            raise ValueError(f'location "{s}": unknown option "{k}" (supported: {", ".join(_QUERY)})')
    return Location(bucket=bucket, key=key, query=u.query)


def _truthy(k, v):
    if v.lower() in ("1", "t", "true"):
        return True
    if v.lower() in ("0", "f", "false"):
        return False
    raise ValueError(f'invalid value for "{k}": {v!r}')


def filesystem(loc: Location):
    """A pyarrow S3FileSystem for the location's bucket, configured from the
    environment and the URL's options (region, endpoint, disable_https,
    use_path_style)."""
    from pyarrow import fs as pafs

    q = {k: v[-1] for k, v in parse_qs(loc.query, keep_blank_values=True).items()}
    region = q.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    endpoint = q.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    kw = {"region": region}
    scheme = "https"
    if endpoint:
        m = _SCHEME.match(endpoint)
        if m:
            scheme, endpoint = m.group(1).lower(), endpoint[m.end():]
        kw["endpoint_override"] = endpoint.rstrip("/")
    if "disable_https" in q and _truthy("disable_https", q["disable_https"]):
        scheme = "http"
    kw["scheme"] = scheme
    for k in ("use_path_style", "s3ForcePathStyle"):
        if k in q and not _truthy(k, q[k]):
            kw["force_virtual_addressing"] = True
    return pafs.S3FileSystem(**kw)


def _is_file(fs, path) -> bool:
    from pyarrow import fs as pafs

    return fs.get_file_info(path).type == pafs.FileType.File


def _get(fs, path) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


def _latest_of(fs, ds: Location) -> Optional[str]:
    """The version the latest object of dataset prefix ds names, once that
    version's manifest is there; None where there is no latest object."""
    lat = ds.join(LATEST_NAME)
    try:
        data = _get(fs, lat.fs_path)
    except FileNotFoundError:
        return None
    v = data.decode("utf-8", "replace").strip()
    if v == "" or "/" in v or "\\" in v or v in (".", "..") or len(v) > 64:
        raise ValueError(f"{lat}: {data!r} does not name a version")
    if not _is_file(fs, ds.join(v, FILE_NAME).fs_path):
        raise FileNotFoundError(f"{lat} names version {v}, which has no manifest: no such version "
                                "(a version exists once its manifest is written)")
    return v


def resolve_remote(fs, loc: Location) -> Location:
    """The version a store location names, as the Go resolveRemote finds
    it: a version prefix (or its manifest.json), a dataset prefix (its latest
    object) or an output root holding exactly one dataset."""
    if loc.base == FILE_NAME:
        return loc.parent
    if _is_file(fs, loc.join(FILE_NAME).fs_path):
        return loc
    if loc.base == LATEST_NAME and loc.key:
        v = _latest_of(fs, loc.parent)
        if v is not None:
            return loc.parent.join(v)
    v = _latest_of(fs, loc)
    if v is not None:
        return loc.join(v)
    from pyarrow import fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(loc.fs_path, allow_not_found=True))
    except OSError as e:
        raise OSError(f"{loc}: {e}") from None
    choices = []
    for info in infos:
        if info.type != pafs.FileType.Directory:
            continue
        name = info.base_name
        try:
            if _latest_of(fs, loc.join(name)) is not None:
                choices.append(name)
        except (OSError, ValueError):
            pass
    choices.sort()
    if not choices:
        raise FileNotFoundError(f"{loc}: no such version: no {FILE_NAME} here (a version exists once its manifest "
                                f"is written), nor a dataset prefix with a '{LATEST_NAME}' object or an output root "
                                "of prep")
    if len(choices) > 1:
        raise ValueError(f"{loc} holds {len(choices)} datasets; name one of:\n  " +
                         "\n  ".join(str(loc.join(c)) for c in choices))
    ds = loc.join(choices[0])
    return ds.join(_latest_of(fs, ds))


def default_cache_dir() -> str:
    """The Go tools' default shard cache (dataset.DefaultCacheDir):
    os.UserCacheDir()/shardsmith/shards, or shardsmith-shards in the system's
    temporary directory where there is no user cache directory."""
    d = _user_cache_dir()
    if d is not None:
        return os.path.join(d, "shardsmith", "shards")
    tmp = os.environ.get("TMPDIR") or "/tmp" if os.name != "nt" else tempfile.gettempdir()
    return os.path.join(tmp, "shardsmith-shards")


def _user_cache_dir() -> Optional[str]:
    """Go's os.UserCacheDir, or None where it fails."""
    if os.name == "nt":
        return os.environ.get("LocalAppData") or None
    home = os.environ.get("HOME", "")
    if sys.platform == "darwin":
        return home + "/Library/Caches" if home else None
    d = os.environ.get("XDG_CACHE_HOME", "")
    if d == "":
        return home + "/.cache" if home else None
    return d if os.path.isabs(d) else None


def _hash_file(p) -> Tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    with builtins.open(p, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                return n, h.hexdigest()
            n += len(b)
            h.update(b)


def _sync_dir(d):
    if os.name == "nt":
        return
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(p: str):
    """A file to write that becomes p when the block ends without an error
    (and is removed when it raises): written under a temporary name starting
    with a dot in p's directory, which the caches skip, and renamed into
    place, so that a process reading p, here or in a Go tool sharing the
    directory, sees the whole old file or the whole new one."""
    d = os.path.dirname(p) or "."
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=d)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, p)
        tmp = None
        _sync_dir(d)
    finally:
        if tmp is not None:
            os.unlink(tmp)


class Cache:
    """The shard cache directory shared with the Go tools: files named
    SHA256.EXT, temporary files starting with a dot."""

    def __init__(self, dir: str, max_bytes: int):
        if max_bytes < 0:
            raise ValueError(f"shard cache size {max_bytes}: must be ≥ 0")
        self.dir, self.max = dir, max_bytes
        os.makedirs(dir, exist_ok=True)

    def get(self, fs, url: str, key: str, sh) -> Tuple[str, bool]:
        """The local path of shard sh (object key of fs at url), downloaded
        if the cache does not hold it, and whether it was downloaded."""
        from .dataset import ShardError, _size_error

        name = sh.sha256 + os.path.splitext(sh.path)[1]
        p = os.path.join(self.dir, name)
        try:
            # left by an earlier process (or another one): hashed before it is trusted
            if os.stat(p).st_size == sh.bytes and _hash_file(p) == (sh.bytes, sh.sha256):
                os.utime(p)  # recently used, for this cache's and the Go cache's LRU order
                return p, False
            os.unlink(p)  # damaged: fetched again
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ShardError(p, "file", f"shard cache: {e}") from e
        with replacing(p) as out:
            h, n = hashlib.sha256(), 0
            try:
                with fs.open_input_stream(key) as f:
                    while n <= sh.bytes:  # one read past the size says it is longer
                        b = f.read(_CHUNK)
                        if not b:
                            break
                        n += len(b)
                        h.update(b)
                        out.write(b)
            except OSError as e:
                raise ShardError(url, "file", e.strerror or str(e)) from e
            if n != sh.bytes:
                raise _size_error(url, n, sh.bytes)
            got = h.hexdigest()
            if got != sh.sha256:
                raise ShardError(url, "sha256", f"SHA-256 {got}, manifest says {sh.sha256} (the object was replaced "
                                                "or damaged after it was published; prep verify tells more)",
                                 got, sh.sha256)
        return p, True

    def evict(self, keep) -> None:
        """Removes the least recently used (oldest modified) files not in
        keep until the cache fits its size."""
        files = []
        with os.scandir(self.dir) as it:
            for e in it:
                if e.name.startswith(".") or not e.is_file(follow_symlinks=False):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                files.append((st.st_mtime_ns, e.name, st.st_size))
        size = sum(f[2] for f in files)
        for _, name, n in sorted(files):
            if size <= self.max:
                break
            if name in keep:
                continue
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
            size -= n


@dataclass
class Fetched:
    url: str                 # the version's URL
    manifest: Manifest
    files: Dict[str, str]    # shard path → file in the cache
    downloaded: List[str]    # shard paths downloaded by this call


def fetch(loc: Location, cache_dir: Optional[str] = None, cache_mb: int = DEFAULT_CACHE_MB) -> Fetched:
    """Resolves a store location to a version, reads its manifest and
    brings every shard into the cache, verified."""
    fs = filesystem(loc)
    try:
        v = resolve_remote(fs, loc)
    except (FileNotFoundError, ValueError):
        raise
    except OSError as e:  # the server unreachable, access denied, …: pyarrow's message names the key
        raise OSError(f"{loc}: {e}") from e
    murl = v.join(FILE_NAME)
    try:
        data = _get(fs, murl.fs_path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{v}: no such version: no {FILE_NAME} (a version exists once its manifest is "
                                "written)") from None
    except OSError as e:
        raise ManifestError(f"manifest {murl}: {e}") from e
    try:
        m = parse(data)
    except ManifestError as e:
        raise ManifestError(f"manifest {murl}: {e}") from None
    cache = Cache(cache_dir or default_cache_dir(), cache_mb << 20)
    files, downloaded = {}, []
    for sp in m.splits:
        for sh in sp.shards:
            obj = v.join(sh.path)
            p, new = cache.get(fs, str(obj), obj.fs_path, sh)
            files[sh.path] = p
            if new:
                downloaded.append(sh.path)
    cache.evict({os.path.basename(p) for p in files.values()})
    return Fetched(url=str(v), manifest=m, files=files, downloaded=downloaded)
