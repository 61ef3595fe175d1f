"""Running the service: probes, metrics, logs, alerts, the error log and the sweeper."""
