from shared.settings import CommonSettings, env


class EvidenceSettings(CommonSettings):
    port: int = env("EVIDENCE_PORT", default=50054)
    # Each S3 call is bounded by this (and by the time the RPC has left): the SDK's default
    # retries would take longer than any caller waits.
    s3_timeout_s: float = env("EVIDENCE_S3_TIMEOUT_S", default=3.0)
    upload_ttl_s: int = env("EVIDENCE_UPLOAD_TTL_S", default=900)
    download_ttl_s: int = env("EVIDENCE_DOWNLOAD_TTL_S", default=300)
    # The background verifier (services/evidence/verifier.py): off only where another replica
    # runs it; uploads received here then wait for that one.
    verifier: bool = env("EVIDENCE_VERIFIER", default=True)
    # Uploads verified at once: decoding runs in threads, so one per core is the most that helps.
    verify_concurrency: int = env("EVIDENCE_VERIFY_CONCURRENCY", default=2)
    # How often an idle verifier looks for work it was not woken for (other replicas' uploads,
    # leases run out, retries after a storage failure).
    verify_poll_s: float = env("EVIDENCE_VERIFY_POLL_S", default=1.0)
    # How often staged objects no upload will read again are removed for good.
    sweep_every_s: float = env("EVIDENCE_SWEEP_EVERY_S", default=600.0)
