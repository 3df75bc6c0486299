"""Presigned URLs that bind headers: AWS's own example, and what signing a header changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.evidence.sigv4 import presign

# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html (the example).
AWS_EXAMPLE = {
    "method": "GET",
    "scheme": "https",
    "host": "examplebucket.s3.amazonaws.com",
    "path": "/test.txt",
    "access_key": "AKIAIOSFODNN7EXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "region": "us-east-1",
    "at": datetime(2013, 5, 24, tzinfo=UTC),
    "expires_s": 86400,
}


def test_the_aws_example_is_signed_as_aws_signs_it() -> None:
    assert presign(**AWS_EXAMPLE) == (
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_signed_headers_are_named_and_change_the_signature() -> None:
    headers = {"Content-Type": "image/jpeg", "content-length": "1024"}
    url = presign(**{**AWS_EXAMPLE, "method": "PUT"}, headers=headers)
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in url
    other = presign(**{**AWS_EXAMPLE, "method": "PUT"}, headers={**headers, "content-length": "9"})
    assert url.rsplit("=", 1)[1] != other.rsplit("=", 1)[1]


@pytest.mark.parametrize("expires_s", [0, 7 * 24 * 3600 + 1])
def test_expiry_outside_what_sigv4_allows_is_refused(expires_s: int) -> None:
    with pytest.raises(ValueError, match="expires_s"):
        presign(**{**AWS_EXAMPLE, "expires_s": expires_s})
