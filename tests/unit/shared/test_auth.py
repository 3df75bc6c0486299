import pytest

from shared.auth import Principal, Role, bearer, mint_token, parse_keys, verify_token
from shared.errors import ServiceError

KEY = "11" * 32


def test_a_minted_token_verifies_to_its_principal() -> None:
    token = mint_token(
        KEY, subject="adj-1", role="adjuster", regions=["4302"], ttl_seconds=60, now=1000
    )
    principal = verify_token(token, parse_keys(KEY), now=1030)
    assert principal == Principal("adj-1", Role.ADJUSTER, frozenset({"4302"}), expires_at=1060)


def test_expired_tampered_and_foreign_tokens_are_refused() -> None:
    keys = parse_keys(KEY)
    token = mint_token(
        KEY, subject="adj-1", role="adjuster", regions=["4302"], ttl_seconds=60, now=1000
    )
    with pytest.raises(ServiceError, match="expired"):
        verify_token(token, keys, now=1061)
    version, _, signature = token.split(".")
    forged_body = mint_token(
        KEY, subject="adj-1", role="adjuster", regions=["*"], ttl_seconds=60, now=1000
    ).split(".")[1]
    with pytest.raises(ServiceError, match="signature"):
        verify_token(f"{version}.{forged_body}.{signature}", keys, now=1001)
    with pytest.raises(ServiceError, match="signature"):
        verify_token(
            mint_token("22" * 32, subject="x", role="service", regions=["*"], ttl_seconds=60), keys
        )
    with pytest.raises(ServiceError, match="malformed"):
        verify_token("v1.%%%.x", keys)


def test_rotation_verifies_old_and_new_keys_and_signs_with_the_first() -> None:
    rotated = f"new:{'33' * 32},old:{KEY}"
    old_token = mint_token(f"old:{KEY}", subject="s", role="service", regions=["*"], ttl_seconds=60)
    assert verify_token(old_token, parse_keys(rotated)).subject == "s"
    new_token = mint_token(rotated, subject="s", role="service", regions=["*"], ttl_seconds=60)
    with pytest.raises(ServiceError):
        verify_token(new_token, parse_keys(f"old:{KEY}"))


def test_short_or_missing_keys_are_configuration_errors() -> None:
    with pytest.raises(ValueError):
        parse_keys("abcd")
    with pytest.raises(ValueError):
        parse_keys(" , ")


def test_region_access_is_by_prefix() -> None:
    city = Principal("a", Role.ADJUSTER, frozenset({"4302"}), 0)
    assert city.may_access_region("430202") and not city.may_access_region("430102")
    assert Principal("s", Role.SERVICE, frozenset({"*"}), 0).may_access_region("110101")


def test_bearer_reads_only_the_authorization_header() -> None:
    assert bearer([("x-other", "Bearer no"), ("authorization", "Bearer tok")]) == "tok"
    assert bearer([("authorization", "Basic abc")]) is None
    assert bearer(None) is None
