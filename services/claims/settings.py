from shared.settings import CommonSettings, env


class ClaimsSettings(CommonSettings):
    port: int = env("CLAIMS_PORT", default=50052)
    policy_addr: str = env("POLICY_ADDR", default="127.0.0.1:50051")
    # Empty: the pricing stand-in (a small built-in catalogue), for tests and partial stacks.
    pricing_addr: str = env("PRICING_ADDR", default="")
    # Empty: the validation stand-in (no findings), likewise.
    validation_addr: str = env("VALIDATION_ADDR", default="")
    # Empty: the contractors stand-in (everyone grey), likewise.
    contractors_addr: str = env("CONTRACTORS_ADDR", default="")
    # Empty: the evidence stand-in (no folders, no flags), likewise.
    evidence_addr: str = env("EVIDENCE_ADDR", default="")
    # Clean claims at or under this amount are approved without a person (1,000 CNY; a
    # white-listed contractor's up to 5,000 CNY). Above the second threshold (50,000 CNY)
    # a senior reviewer must approve too.
    straight_through_max_fen: int = env("CLAIMS_STRAIGHT_THROUGH_MAX_FEN", default=100_000)
    white_list_straight_through_max_fen: int = env(
        "CLAIMS_WHITE_LIST_STRAIGHT_THROUGH_MAX_FEN", default=500_000
    )
    second_review_above_fen: int = env("CLAIMS_SECOND_REVIEW_ABOVE_FEN", default=5_000_000)
    clock_sweep_s: float = env("CLAIMS_CLOCK_SWEEP_S", default=30.0)
