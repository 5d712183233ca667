"""Strategy exploration, validation and trading under hard risk limits."""
