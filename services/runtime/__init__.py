"""What every service runs on: settings, database, outbox/inbox, broker, telemetry, clock."""
