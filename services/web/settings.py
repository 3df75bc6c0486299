from shared.settings import CommonSettings, Secret, env


class WebSettings(CommonSettings):
    port: int = env("WEB_PORT", default=8080)
    claims_addr: str = env("CLAIMS_ADDR", default="127.0.0.1:50052")
    evidence_addr: str = env("EVIDENCE_ADDR", default="127.0.0.1:50054")
    contractors_addr: str = env("CONTRACTORS_ADDR", default="127.0.0.1:50056")
    policy_addr: str = env("POLICY_ADDR", default="127.0.0.1:50051")
    pricing_addr: str = env("PRICING_ADDR", default="127.0.0.1:50053")
    # Cookies carry `Secure` unless told otherwise: browsers keep Secure cookies on
    # http://127.0.0.1 and http://localhost (trustworthy origins), so only a plain-HTTP
    # deployment on another host name would need this off, and it should not exist.
    cookie_secure: bool = env("WEB_COOKIE_SECURE", default=True)
    s3_secure: bool = env("S3_SECURE", default=False)
    # The demo seed's password for its demo users (make run generates one per machine).
    demo_password: Secret | None = env("WEB_DEMO_PASSWORD", default=None)
