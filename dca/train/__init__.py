"""Training engine: ``dca train CONFIG`` (resolved run config, losses, checkpoints, the loop, device set-up)."""
