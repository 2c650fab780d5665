"""The pricing service: parameter tables (BVG limits, rates, plan split), priced rows.

The service itself is in `service.py`; importing this package stays cheap for the offline
commands."""
