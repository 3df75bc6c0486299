from services.web.domain.dashboard import bucket_label, share


def test_buckets_read_in_the_unit_of_each_promise() -> None:
    assert bucket_label("arrival", 900, 1800) == "15–30"
    assert bucket_label("arrival", 1800, 0) == "≥ 30"
    assert bucket_label("repair", 0, 43200) == "0–12"
    assert bucket_label("payment", 86400, 129600) == "1–1.5"
    assert share(0.8766) == "87.7%"
