from elevins.policy.v1 import policy_pb2 as pb
from shared.idempotency import fingerprint


def test_fingerprint_ignores_the_request_id_but_not_the_payload() -> None:
    a = pb.RegisterCommunityRequest(request_id="r1", region_code="430202", name="x")
    b = pb.RegisterCommunityRequest(request_id="r2", region_code="430202", name="x")
    c = pb.RegisterCommunityRequest(request_id="r1", region_code="430202", name="y")
    assert fingerprint("M", a) == fingerprint("M", b)
    assert fingerprint("M", a) != fingerprint("M", c)
    assert fingerprint("M", a) != fingerprint("N", a)
    assert a.request_id == "r1"  # the caller's message is left alone
