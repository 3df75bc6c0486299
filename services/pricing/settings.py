from shared.settings import CommonSettings, env


class PricingSettings(CommonSettings):
    port: int = env("PRICING_PORT", default=50053)
    # At most how often a request looks for prices imported by another process.
    refresh_s: float = env("PRICING_REFRESH_S", default=2.0)
