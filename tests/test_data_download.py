"""Search order, not-found messages and atomic, checksum-verified downloads (file:// URLs only)."""
import hashlib
import io
import urllib.request
from types import SimpleNamespace

import pytest

from tinynet.data import download


_real_urlopen = urllib.request.urlopen


def _no_network(url, *args, **kwargs):
    if not str(url).startswith("file:"):
        raise AssertionError(f"a test tried to reach the network: {url}")
    return _real_urlopen(url, *args, **kwargs)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Every search place inside tmp_path, and no network."""
    p = SimpleNamespace(root=tmp_path / "root", env=tmp_path / "env", system=tmp_path / "system",
                        home=tmp_path / "home")
    monkeypatch.setenv("HOME", str(p.home))
    monkeypatch.setenv("TINYNET_DATA", str(p.env))
    monkeypatch.setattr(download, "SYSTEM_DIR", p.system)
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    p.folders = {"root": p.root, "env": p.env / "toy", "system": p.system / "toy",
                 "cache": p.home / ".cache" / "tinynet" / "toy"}
    return p


def put(folder, name="f.bin", data=b"data"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


@pytest.mark.parametrize("present, winner", [
    (["root", "env", "system", "cache"], "root"),
    (["env", "system", "cache"], "env"),
    (["system", "cache"], "system"),
    (["cache"], "cache"),
    (["root", "cache"], "root"),
])
def test_search_order(places, present, winner):
    for name in present:
        put(places.folders[name], data=name.encode())
    path = download.find_file("toy", ["f.bin"], root=places.root)
    assert path == places.folders[winner] / "f.bin"


def test_alternative_names_are_tried_in_each_folder_in_turn(places):
    put(places.folders["env"], "f.bin")      # the uncompressed name, earlier folder
    put(places.folders["cache"], "f.bin.gz")
    assert download.find_file("toy", ["f.bin.gz", "f.bin"]) == places.folders["env"] / "f.bin"


def test_without_env_downloads_go_to_the_cache(places, monkeypatch):
    monkeypatch.delenv("TINYNET_DATA")
    assert download.download_dir("toy") == places.folders["cache"]
    labels = [label for _, label in download.search_dirs("toy")]
    assert labels[1] == "$TINYNET_DATA/toy" and download.search_dirs("toy")[1][0] is None


def test_not_found_lists_places_and_ways_without_network(places):
    with pytest.raises(FileNotFoundError) as info:
        download.find_or_download("Toy", "toy", "f.bin", root=places.root, mirrors=("file:///nowhere/",),
                                  md5=None, download=False, ways=("apt-get install dataset-toy",))
    message = str(info.value)
    for folder in places.folders.values():
        assert str(folder) in message
    assert "apt-get install dataset-toy" in message and "download=True" in message
    assert "TINYNET_DATA" in message
    assert message.index(str(places.root)) < message.index(str(places.folders["cache"]))


def test_download_when_missing_goes_to_tinynet_data(places, tmp_path):
    server = put(tmp_path / "server", "f.bin", b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    path = download.find_or_download("Toy", "toy", "f.bin", root=None, mirrors=(server.parent.as_uri() + "/",),
                                     md5=md5, download=True)
    assert path == places.folders["env"] / "f.bin"
    assert path.read_bytes() == b"payload"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]  # no temporary left behind


def test_mirrors_are_tried_in_order(places, tmp_path):
    server = put(tmp_path / "server", "f.bin", b"payload")
    dest = tmp_path / "out" / "f.bin"
    urls = [(tmp_path / "missing").as_uri() + "/f.bin", server.as_uri()]
    download.download_file(urls, dest, hashlib.md5(b"payload").hexdigest())
    assert dest.read_bytes() == b"payload"


def test_bad_checksum_saves_nothing(places, tmp_path):
    server = put(tmp_path / "server", "f.bin", b"tampered")
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(ValueError, match="checksum") as info:
        download.download_file([server.as_uri()], dest, hashlib.md5(b"payload").hexdigest())
    assert hashlib.md5(b"tampered").hexdigest() in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_unreachable_mirrors(places, tmp_path):
    urls = [(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()]
    with pytest.raises(ConnectionError) as info:
        download.download_file(urls, tmp_path / "out" / "f.bin", None)
    assert urls[0] in str(info.value) and urls[1] in str(info.value)
    assert list((tmp_path / "out").iterdir()) == []


class _BrokenResponse(io.BytesIO):
    """Serves some bytes, then the connection drops."""

    def read(self, size=-1):
        if self.tell() > 0:
            raise ConnectionResetError("connection reset by peer")
        return super().read(4)


def test_interrupted_download_leaves_nothing(places, tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _BrokenResponse(b"12345678"))
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(ConnectionError, match="connection reset"):
        download.download_file(["https://example.invalid/f.bin"], dest, None)
    assert list(dest.parent.iterdir()) == []


class _CutResponse(io.BytesIO):
    """Announces `length` bytes, serves fewer, then ends as if normally (a silently closed connection)."""

    def __init__(self, data, length):
        super().__init__(data)
        self.headers = {"Content-Length": str(length)}


@pytest.mark.parametrize("md5", [None, hashlib.md5(b"1234").hexdigest()])
def test_a_cut_download_is_not_renamed_into_place(places, tmp_path, monkeypatch, md5):
    """Even when no md5 is checked (verify=False), or the md5 given happens to be the partial file's."""
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _CutResponse(b"1234", 8))
    dest = tmp_path / "out" / "f.bin"
    with pytest.raises(ConnectionError, match="received 4 bytes but the server announced 8"):
        download.download_file(["https://example.invalid/f.bin"], dest, md5)
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize("headers", [{"Content-Length": "4"}, {}, {"Content-Length": "junk"}])
def test_a_complete_download_matches_its_announced_length(places, tmp_path, monkeypatch, headers):
    def respond(url, timeout):
        response = io.BytesIO(b"1234")
        response.headers = headers
        return response
    monkeypatch.setattr(urllib.request, "urlopen", respond)
    dest = download.download_file(["https://example.invalid/f.bin"], tmp_path / "f.bin", None)
    assert dest.read_bytes() == b"1234"


def test_md5_helpers_agree(tmp_path):
    path = put(tmp_path, "x", b"abc" * 1000)
    assert download.md5_file(path) == download.md5_bytes(b"abc" * 1000) == \
        download.md5_bytes(b"abc" * 600, b"abc" * 400) == hashlib.md5(b"abc" * 1000).hexdigest()
