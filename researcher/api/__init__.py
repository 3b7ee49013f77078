"""The JSON API (`/api/v1/`): what the reading room shows, for programs and notebooks."""
