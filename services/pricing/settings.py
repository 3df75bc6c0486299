from shared.settings import CommonSettings, env


class PricingSettings(CommonSettings):
    port: int = env("PRICING_PORT", default=50053)
