from shared.settings import CommonSettings, env


class ContractorsSettings(CommonSettings):
    port: int = env("CONTRACTORS_PORT", default=50056)
