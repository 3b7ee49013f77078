"""The archive in the protocols researchers' own tools speak, read-only: Wayback/pywb URLs
(`/web/<timestamp>/<url>`), the CDX server API in pywb's and the Wayback Machine's forms, and
Memento (RFC 7089) TimeGates and TimeMaps. Pure parts (`timestamps`, `cdx`, `memento`) hold
the protocols' rules; `index` reads the catalog; `routes` is the web face."""
