"""Test support: in-process fakes of outside services (the loopback Bybit V5 server)."""
