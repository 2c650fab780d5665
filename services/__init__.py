"""bvgconnect services."""
