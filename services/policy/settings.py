from shared.settings import CommonSettings, env


class PolicySettings(CommonSettings):
    port: int = env("POLICY_PORT", default=50051)
