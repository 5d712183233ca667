"""Venue adapters behind the Broker port."""
