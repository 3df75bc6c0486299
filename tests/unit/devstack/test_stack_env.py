import pytest

from devstack.stack import StackEnv, external_services, mask_url, parse_s3_endpoint

ENV = StackEnv(
    database_url="postgresql://postgres:s3cret@127.0.0.1:55432/elevins",
    s3_endpoint="127.0.0.1:8333",
    s3_access_key="AK",
    s3_secret_key="SK",
)


def test_as_environ_gives_exactly_the_service_variables():
    assert ENV.as_environ() == {
        "DATABASE_URL": "postgresql://postgres:s3cret@127.0.0.1:55432/elevins",
        "S3_ENDPOINT": "127.0.0.1:8333",
        "S3_ACCESS_KEY": "AK",
        "S3_SECRET_KEY": "SK",
        "S3_BUCKET": "elevins-evidence",
    }


def test_s3_secure_appears_only_when_tls_is_on():
    secure = StackEnv("db", "s3.example:443", "AK", "SK", s3_secure=True)
    assert secure.as_environ()["S3_SECURE"] == "true"


def test_describe_masks_the_password():
    text = " ".join(value for _, value in ENV.describe())
    assert "s3cret" not in text
    assert "postgresql://postgres:****@127.0.0.1:55432/elevins" in text
    assert "http://127.0.0.1:8333" in text


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql://postgres:pw@127.0.0.1:5432/db",
            "postgresql://postgres:****@127.0.0.1:5432/db",
        ),
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:****@h/db?sslmode=require"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://:pw@h/db", "postgresql://:****@h/db"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_nothing_external_by_default():
    external = external_services({})
    assert external.database_url is None
    assert external.s3 is None


def test_empty_variables_count_as_unset():
    external = external_services({"DATABASE_URL": "", "S3_ENDPOINT": ""})
    assert external.database_url is None
    assert external.s3 is None


def test_external_database_and_s3():
    external = external_services(
        {
            "DATABASE_URL": "postgresql://x:y@db:5432/elevins",
            "S3_ENDPOINT": "https://minio.internal:9000/",
            "S3_ACCESS_KEY": "AK",
            "S3_SECRET_KEY": "SK",
            "S3_BUCKET": "other",
        }
    )
    assert external.database_url == "postgresql://x:y@db:5432/elevins"
    assert external.s3 is not None
    assert external.s3.s3_endpoint == "minio.internal:9000"
    assert external.s3.s3_secure is True
    assert external.s3.s3_bucket == "other"


def test_external_s3_without_keys_is_an_error():
    with pytest.raises(ValueError, match="S3_ACCESS_KEY"):
        external_services({"S3_ENDPOINT": "127.0.0.1:9000"})


@pytest.mark.parametrize(
    ("value", "secure_flag", "expected"),
    [
        ("127.0.0.1:8333", False, ("127.0.0.1:8333", False)),
        ("127.0.0.1:8333", True, ("127.0.0.1:8333", True)),
        ("http://127.0.0.1:8333", True, ("127.0.0.1:8333", False)),
        ("https://s3.example", False, ("s3.example", True)),
    ],
)
def test_parse_s3_endpoint(value, secure_flag, expected):
    assert parse_s3_endpoint(value, secure_flag) == expected
