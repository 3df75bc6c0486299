"""Runtime pieces every service uses: config, db, grpc bootstrap, errors, telemetry, money, time."""
