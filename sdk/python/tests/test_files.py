"""``sandbox.files`` against a real server: uploads (bytes, text, file objects, streamed),
downloads (whole, ranges, streamed, to disk), folders, listing, deleting, and the errors a
user meets (a bad path, a paused sandbox, a full disk)."""

from __future__ import annotations

import io

import pytest

import sbx

BINARY = bytes(range(256)) * 1200  # 300 KiB of every byte value


def test_a_code_interpreters_files_go_both_ways(client, tmp_path):
    with client.sandboxes.create() as sandbox:
        files = sandbox.files
        info = files.write("/workspace/data/in.txt", b"first")
        assert (info.path, info.type, info.size) == ("/workspace/data/in.txt", "file", 5)
        assert info.mode & 0o600 == 0o600 and info.mtime.year >= 2024
        info = files.write("/workspace/data/in.txt", "second ü")  # replaced; str as UTF-8
        assert info.size == len("second ü".encode())
        assert files.read_text("/workspace/data/in.txt") == "second ü"
        assert files.read("/workspace/data/in.txt") == "second ü".encode()

        # A file object is streamed from where it stands; names that need escaping.
        source = io.BytesIO(b"HEADER" + BINARY)
        source.seek(6)
        odd = "/workspace/a b/ü#?.bin"
        assert files.write(odd, source).size == len(BINARY)
        assert files.read(odd) == BINARY
        assert files.read(odd, offset=10, length=5) == BINARY[10:15]
        assert files.read(odd, offset=len(BINARY) - 3) == BINARY[-3:]
        assert files.read(odd, offset=len(BINARY) + 1) == b""
        assert b"".join(files.stream(odd, chunk_size=4096)) == BINARY
        assert files.download(odd, tmp_path / "got.bin") == len(BINARY)
        assert (tmp_path / "got.bin").read_bytes() == BINARY
        files.download(odd, tmp_path)  # a folder: the file's name in it
        assert (tmp_path / "ü#?.bin").read_bytes() == BINARY
        sink = io.BytesIO()
        files.download(odd, sink)
        assert sink.getvalue() == BINARY

        # A local file, to a relative path (below /workspace).
        local = tmp_path / "local.bin"
        local.write_bytes(BINARY[:1000])
        assert files.upload(local, "up/local.bin").path == "/workspace/up/local.bin"
        assert files.read("/workspace/up/local.bin") == BINARY[:1000]

        # The code sees what was uploaded, and what it writes is read back.
        r = sandbox.run_code("open('/workspace/data/in.txt').read()")
        assert r.result == repr("second ü")
        sandbox.run_code("open('/workspace/out.txt', 'w').write('from the code')")
        assert files.read_text("/workspace/out.txt") == "from the code"

        # Folders.
        made = files.mkdir("/workspace/x/y/z")
        assert (made.path, made.type) == ("/workspace/x/y/z", "directory")
        assert files.mkdir("/workspace/x/y").type == "directory"  # there already: fine
        files.write("/workspace/x/y/z/f.txt", "deep")
        with pytest.raises(sbx.PathConflict) as e:
            files.mkdir("/workspace/data/in.txt")
        assert (e.value.status, e.value.code) == (409, "path_conflict")
        assert isinstance(e.value, sbx.Conflict)
        with pytest.raises(sbx.PathConflict):
            files.write("/workspace/data", "a folder is there")
        with pytest.raises(sbx.PathConflict):
            files.read("/workspace/data")
        with pytest.raises(sbx.PathConflict):
            files.list("/workspace/data/in.txt")

        # Listing.
        everything = files.list(recursive=True)
        paths = [f.path for f in everything]
        for want in [
            "/workspace/a b",
            odd,
            "/workspace/data",
            "/workspace/data/in.txt",
            "/workspace/up/local.bin",
            "/workspace/x/y/z",
            "/workspace/x/y/z/f.txt",
        ]:
            assert want in paths, (want, paths)
        assert everything.truncated is False
        assert paths.index("/workspace/data") < paths.index("/workspace/data/in.txt")
        top = files.list()
        assert "/workspace/x" in [f.path for f in top] and "/workspace/x/y" not in [f.path for f in top]
        [entry] = files.list("/workspace/data")
        assert (entry.path, entry.type, entry.size) == ("/workspace/data/in.txt", "file", len("second ü".encode()))
        assert {f.type for f in top} >= {"file", "directory"}

        # Whether something is there.
        assert files.exists("/workspace/data/in.txt")
        assert files.exists("/workspace/x/y")
        assert files.exists("data/in.txt")
        assert not files.exists("/workspace/nothing.txt")
        assert not files.exists("/workspace/data/in.txt/under")

        # Deleting: a folder that is not empty only when asked to.
        with pytest.raises(sbx.PathConflict):
            files.remove("/workspace/x")
        files.remove("/workspace/x", recursive=True)
        assert not files.exists("/workspace/x")
        with pytest.raises(sbx.NotFound) as e:
            files.read("/workspace/x/y/z/f.txt")
        assert e.value.code == "not_found"
        files.remove("/workspace/data/in.txt")
        assert files.list("/workspace/data") == []
        with pytest.raises(sbx.NotFound):
            files.remove("/workspace/data/in.txt")
        with pytest.raises(sbx.PathConflict):
            files.remove("/workspace", recursive=True)


def test_a_path_outside_the_sandboxes_folders_is_invalid_path(client):
    with client.sandboxes.create() as sandbox:
        files = sandbox.files
        for bad in [
            "/etc/passwd",
            "/workspace/../etc/passwd",
            "/workspace/./a",
            "/workspace//a",
            "/workspace/a\0b",
            "/outputs/x",  # a code interpreter has only /workspace
        ]:
            with pytest.raises(sbx.InvalidRequest) as e:
                files.read(bad)
            assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_path", "path"), bad
        with pytest.raises(sbx.InvalidRequest) as e:
            files.write("/tmp/x", b"x")
        assert e.value.code == "invalid_path"
        with pytest.raises(sbx.InvalidRequest) as e:
            files.list("/tmp")
        assert e.value.code == "invalid_path"
        with pytest.raises(sbx.InvalidRequest) as e:
            files.exists("/etc/passwd")
        assert e.value.code == "invalid_path"
        with pytest.raises(sbx.InvalidRequest) as e:
            files.mkdir("/workspace/../x")
        assert e.value.code == "invalid_path"
    ghost = sbx.Sandbox(client, sandbox.info.model_copy(update={"id": "01a22b62-6757-75d4-b717-0bc33d78127b"}))
    with pytest.raises(sbx.NotFound):
        ghost.files.exists("/workspace/a.txt")
    with pytest.raises(sbx.NotFound):
        ghost.files.read("/workspace/a.txt")


def test_a_paused_sandboxs_files_are_refused_until_it_resumes(client):
    with client.sandboxes.create() as sandbox:
        sandbox.files.write("/workspace/kept.txt", "kept")
        sandbox.pause()
        for call in [
            lambda: sandbox.files.read("/workspace/kept.txt"),
            lambda: sandbox.files.write("/workspace/new.txt", "x"),
            lambda: sandbox.files.list(),
            lambda: sandbox.files.exists("/workspace/kept.txt"),
        ]:
            with pytest.raises(sbx.Conflict) as e:
                call()
            assert (e.value.status, e.value.code) == (409, "sandbox_paused")
            assert not isinstance(e.value, sbx.PathConflict)
        sandbox.resume()
        assert sandbox.files.read_text("/workspace/kept.txt") == "kept"
    with pytest.raises(sbx.Conflict) as e:
        sandbox.files.read("/workspace/kept.txt")
    assert e.value.code == "sandbox_ended"


def test_a_full_disk_is_disk_full_and_leaves_the_old_file(client, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(40):
            f.write(b"\x07" * (1 << 20))
    with client.sandboxes.create(disk="32Mi") as sandbox:
        sandbox.files.write("/workspace/big.bin", b"old")
        with pytest.raises(sbx.DiskFull) as e:
            sandbox.files.upload(big, "/workspace/big.bin")
        assert (e.value.status, e.value.code) == (507, "disk_full")
        assert sandbox.files.read("/workspace/big.bin") == b"old"
        sandbox.files.write("/workspace/small.txt", "still room")  # the partial upload is gone
        assert sandbox.files.read_text("/workspace/small.txt") == "still room"


def test_a_container_sandboxs_workspace_and_outputs(client):
    with client.sandboxes.create("sbx/python:local", command=["sleep", "600"]) as sandbox:
        sandbox.wait_running()
        files = sandbox.files
        assert files.write("/workspace/in.txt", "from outside").size == 12
        assert files.write("/outputs/model/weights.bin", io.BytesIO(BINARY)).size == len(BINARY)
        out = sandbox.commands.run(
            "cat /workspace/in.txt; echo; stat -c %u /outputs/model/weights.bin; "
            "md5sum < /outputs/model/weights.bin | cut -c1-32; echo inside > /outputs/made.txt"
        )
        lines = out.stdout.splitlines()
        assert lines[0] == "from outside"
        assert lines[1] != "0"  # the sandbox's user owns it, not root
        assert files.read("/outputs/model/weights.bin") == BINARY
        assert files.read_text("/outputs/made.txt") == "inside\n"
        listed = [f.path for f in files.list("/outputs", recursive=True)]
        assert listed == ["/outputs/made.txt", "/outputs/model", "/outputs/model/weights.bin"]
        assert files.exists("/outputs/model")
        files.remove("/outputs/model", recursive=True)
        assert not files.exists("/outputs/model/weights.bin")
        with pytest.raises(sbx.InvalidRequest) as e:
            files.read("/etc/passwd")
        assert e.value.code == "invalid_path"


@pytest.mark.asyncio
async def test_files_with_the_async_client(aclient, tmp_path):
    async with await aclient.sandboxes.create() as sandbox:
        files = sandbox.files
        source = io.BytesIO(b"skip" + BINARY)
        source.seek(4)
        info = await files.write("/workspace/a/b.bin", source)
        assert (info.path, info.size) == ("/workspace/a/b.bin", len(BINARY))
        assert await files.read("/workspace/a/b.bin") == BINARY
        assert b"".join([c async for c in files.stream("/workspace/a/b.bin")]) == BINARY
        assert await files.download("/workspace/a/b.bin", tmp_path / "b.bin") == len(BINARY)
        assert (tmp_path / "b.bin").read_bytes() == BINARY
        await files.write("t.txt", "text")
        assert await files.read_text("/workspace/t.txt") == "text"
        assert (await files.mkdir("/workspace/d")).type == "directory"
        assert [f.path for f in await files.list(recursive=True)] == [
            "/workspace/a", "/workspace/a/b.bin", "/workspace/d", "/workspace/t.txt"
        ]
        assert await files.exists("/workspace/d") and not await files.exists("/workspace/e")
        await files.remove("/workspace/a", recursive=True)
        with pytest.raises(sbx.NotFound):
            await files.read("/workspace/a/b.bin")
        with pytest.raises(sbx.InvalidRequest) as e:
            await files.write("/etc/x", b"")
        assert e.value.code == "invalid_path"


def test_a_retried_upload_sends_the_stream_again_from_where_it_stood(strict_server, tmp_path):
    """The strict server allows one request a second: the uploads right after another call
    are refused with 429 at first, then retried (content checked; nothing timed)."""
    url, key = strict_server
    with sbx.Client(url=url, api_key=key, max_retries=8) as c:
        with c.sandboxes.create() as sandbox:
            source = io.BytesIO(b"PREFIX" + BINARY)
            source.seek(6)
            sandbox.refresh()
            sandbox.files.write("/workspace/retried.bin", source)
            local = tmp_path / "local.bin"
            local.write_bytes(b"abc" + BINARY)
            with open(local, "rb") as f:
                f.seek(3)
                sandbox.refresh()
                sandbox.files.write("/workspace/from-file.bin", f)
            assert sandbox.files.read("/workspace/retried.bin") == BINARY
            assert sandbox.files.read("/workspace/from-file.bin") == BINARY
