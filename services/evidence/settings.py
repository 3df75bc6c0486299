from shared.settings import CommonSettings, env


class EvidenceSettings(CommonSettings):
    port: int = env("EVIDENCE_PORT", default=50054)
    # Each S3 call is bounded by this (and by the time the RPC has left): the SDK's default
    # retries would take longer than any caller waits.
    s3_timeout_s: float = env("EVIDENCE_S3_TIMEOUT_S", default=3.0)
    upload_ttl_s: int = env("EVIDENCE_UPLOAD_TTL_S", default=900)
    download_ttl_s: int = env("EVIDENCE_DOWNLOAD_TTL_S", default=300)
