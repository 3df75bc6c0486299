from shared.settings import CommonSettings, env


class PricingSettings(CommonSettings):
    port: int = env("PRICING_PORT", default=50053)
    # How often to look for prices imported by another process (a seed, another replica).
    refresh_s: float = env("PRICING_REFRESH_S", default=15.0)
