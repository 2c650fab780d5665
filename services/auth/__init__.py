"""The auth service: employers (tenants), users, credentials, sessions, audit log.

The service itself is in `service.py`; importing this package stays cheap for the offline
commands."""
