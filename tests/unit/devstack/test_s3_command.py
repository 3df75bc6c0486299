from pathlib import Path

from devstack.s3 import S3Credentials, SeaweedS3, WeedPorts, _identity_config, _ports_in_cmdline

PORTS = WeedPorts(s3=11000, master=11001, volume=11002, filer=11003, admin=11004)


def _command() -> list[str]:
    server = SeaweedS3(data_dir=Path("/data/s3"), ports=PORTS, log_dir=Path("/data/logs"))
    return server._command(Path("/data/s3.iam.json"))


def test_weed_is_the_venv_binary_with_logs_in_our_dir():
    cmd = _command()
    assert Path(cmd[0]).name == "weed"
    assert cmd[1:3] == ["-logdir=/data/logs", "mini"]  # global flags before the subcommand


def test_nothing_phones_home_or_listens_beyond_loopback():
    cmd = _command()
    for flag in (
        "-master.telemetry=false",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.config=/data/s3.iam.json",
        "-dir=/data/s3",
    ):
        assert flag in cmd


def test_every_port_and_its_grpc_twin_is_explicit():
    cmd = _command()
    named = {"s3": 11000, "master": 11001, "volume": 11002, "filer": 11003, "admin": 11004}
    for name, port in named.items():
        assert f"-{name}.port={port}" in cmd
        assert f"-{name}.port.grpc={port + 10000}" in cmd
    assert sorted(_ports_in_cmdline(cmd)) == sorted(PORTS.all_ports())


def test_identity_config_has_one_identity_and_no_anonymous_access():
    config = _identity_config(S3Credentials("AK", "SK"))
    assert '"accessKey": "AK"' in config
    assert '"secretKey": "SK"' in config
    assert "anonymous" not in config
