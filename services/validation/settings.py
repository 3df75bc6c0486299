from shared.settings import CommonSettings, env


class ValidationSettings(CommonSettings):
    port: int = env("VALIDATION_PORT", default=50055)
