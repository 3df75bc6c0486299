import stat

from devstack.credentials import random_token, read_or_create, write_private


def test_random_token_is_alphanumeric():
    token = random_token(40)
    assert len(token) == 40
    assert token.isalnum()
    assert random_token(40) != token


def test_read_or_create_makes_a_private_file_once(tmp_path):
    path = tmp_path / "deep" / "pg.password"
    first = read_or_create(path, lambda: "one")
    assert first == "one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create(path, lambda: "two") == "one"


def test_read_or_create_tightens_loose_permissions(tmp_path):
    path = tmp_path / "secret"
    path.write_text("value\n")
    path.chmod(0o644)
    assert read_or_create(path, lambda: "other") == "value"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_private_replaces_atomically(tmp_path):
    path = tmp_path / "file"
    write_private(path, "a")
    write_private(path, "b")
    assert path.read_text() == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
