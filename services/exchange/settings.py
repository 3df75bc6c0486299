from shared.settings import CommonSettings, env


class ExchangeSettings(CommonSettings):
    port: int = env("EXCHANGE_PORT", default=50057)
    claims_addr: str = env("CLAIMS_ADDR", default="127.0.0.1:50052")
    policy_addr: str = env("POLICY_ADDR", default="127.0.0.1:50051")
    validation_addr: str = env("VALIDATION_ADDR", default="127.0.0.1:50055")
    # Rows per batch: one COPY, one validation call and one commit (and a progress report) each.
    batch_rows: int = env("EXCHANGE_BATCH_ROWS", default=50_000)
    max_file_bytes: int = env("EXCHANGE_MAX_FILE_BYTES", default=1024 * 1024 * 1024)
    # A million-row import takes tens of seconds: the server's deadline for a call that sets
    # none (every other call is bounded by its statement timeouts and upstream timeouts).
    call_deadline_s: float = env("EXCHANGE_CALL_DEADLINE_S", default=900.0)
    # The relay: how often it pulls the outboxes and sends what is due.
    relay: bool = env("EXCHANGE_RELAY", default=True)
    relay_poll_s: float = env("EXCHANGE_RELAY_POLL_S", default=2.0)
    retry_base_s: float = env("EXCHANGE_RETRY_BASE_S", default=2.0)
    retry_max_s: float = env("EXCHANGE_RETRY_MAX_S", default=600.0)
    max_attempts: int = env("EXCHANGE_MAX_ATTEMPTS", default=15)
    push_window_s: int = env("EXCHANGE_PUSH_WINDOW_S", default=300)
